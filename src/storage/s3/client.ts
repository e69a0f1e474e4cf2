import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { NotFoundError, StorageUnavailableError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { isObjectId } from '../object-store.ts';

export interface S3Settings {
  bucket: string;
  /** Put before every key ('' or ending in '/'), so one bucket can hold several hubs. */
  prefix: string;
  /** undefined: the SDK's own chain (AWS_REGION, shared config). */
  region: string | undefined;
  /** undefined: AWS itself. Set for R2, MinIO, Ceph RGW, Swift. */
  endpoint: string | undefined;
  forcePathStyle: boolean;
  /** The endpoint clients reach for presigned uploads, when it differs from the gateway's. */
  presignEndpoint: string | undefined;
  /** Per request: no answer within this is an outage (503), not a hang. */
  timeoutMs: number;
}

/** How many S3 requests one call (getMany, putMany, a fetch's read-ahead) keeps in flight. */
export const PARALLEL = 8;
/** Runs `work` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);
export const statusOf = (err: unknown) =>
  (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
export const isMissing = (err: unknown) => statusOf(err) === 404;

/**
 * A response body of known length into one buffer, chunk by chunk: no list of chunks and
 * concatenated copy side by side, which would double what a read holds at its peak.
 */
export async function readBody(body: Readable, length: number, what: string): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for await (const chunk of body) {
    const c = chunk as Buffer;
    if (at + c.length > length) {
      body.destroy();
      throw new Error(`${what}: more than the ${length} bytes expected`);
    }
    c.copy(out, at);
    at += c.length;
  }
  if (at !== length) throw new Error(`${what}: ${at} bytes, ${length} expected`);
  return out;
}

function sdkClient(settings: S3Settings, endpoint: string | undefined): S3Client {
  return new S3Client({
    ...(settings.region ? { region: settings.region } : {}),
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    // No checksum headers or trailers unless an operation requires one: presigned URLs then carry
    // none the uploader must match, and streamed bodies are not sent aws-chunked, which several
    // S3-compatible servers (Swift's s3api among them) refuse. Bytes are verified by their SHA-256.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // A server that accepts connections but never answers must be an error, not a wait: the
    // request timeout only warns unless told to throw; the socket timeout covers a stalled body.
    requestHandler: {
      connectionTimeout: Math.min(5_000, settings.timeoutMs),
      requestTimeout: settings.timeoutMs,
      throwOnRequestTimeout: true,
      socketTimeout: settings.timeoutMs,
    },
  });
}

/**
 * One bucket under one prefix, and every request to it: an unreachable or failing store (no
 * answer, 5xx, refused credentials) becomes StorageUnavailableError, a 503 with Retry-After;
 * other errors pass on. The SDK has already retried (three attempts, with backoff) by then.
 */
export class S3Bucket {
  readonly s3: S3Client;
  /** The client that signs upload URLs: another endpoint when clients reach the store elsewhere. */
  readonly signer: S3Client;

  constructor(
    readonly settings: S3Settings,
    private readonly log?: Logger,
  ) {
    this.s3 = sdkClient(settings, settings.endpoint);
    this.signer = settings.presignEndpoint ? sdkClient(settings, settings.presignEndpoint) : this.s3;
  }

  get name(): string {
    return this.settings.bucket;
  }

  /** Checks the bucket answers to these credentials: a misconfiguration stops the start, with the reason. */
  async check(): Promise<void> {
    try {
      await this.s3.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
    } catch (err) {
      const where = this.settings.endpoint ?? 'AWS';
      const status = statusOf(err);
      const why = status === 404 ? 'no such bucket' : status === 403 ? 'access denied' : String(err);
      throw new Error(`S3 bucket ${this.settings.bucket} at ${where}: ${why}`);
    }
  }

  /** The key of an object stored alone. */
  key(objectId: string): string {
    if (!isObjectId(objectId)) throw new Error(`not an object id: ${objectId}`);
    return `${this.settings.prefix}objects/${objectId}`;
  }

  /** The key of a pack (`packs/<uuid>.pack`, as musehub_packed_objects names it). */
  packKey(pack: string): string {
    return `${this.settings.prefix}${pack}`;
  }

  // biome-ignore lint/suspicious/noExplicitAny: the SDK's command types are generic over their own I/O.
  async send<C extends { input: any }>(command: C): Promise<any> {
    try {
      // biome-ignore lint/suspicious/noExplicitAny: see above
      return await this.s3.send(command as any);
    } catch (err) {
      const status = statusOf(err);
      const e = err as { name?: string; code?: string };
      const unreachable = (e.code && NETWORK_ERRORS.has(e.code)) || e.name === 'TimeoutError';
      if (unreachable || (status !== undefined && status >= 500)) {
        this.log?.warn({ err: String(err), status }, 'object store unavailable');
        throw new StorageUnavailableError();
      }
      if (status === 403) {
        this.log?.error({ err: String(err) }, 'the object store refused the gateway credentials');
        throw new StorageUnavailableError();
      }
      throw err;
    }
  }

  /** Stores `bytes` under `key`, checked by the server: a body damaged on the way is refused, not stored. */
  async putBytes(key: string, bytes: Uint8Array): Promise<void> {
    await this.send(
      new PutObjectCommand({
        Bucket: this.settings.bucket,
        Key: key,
        Body: bytes,
        ContentLength: bytes.length,
        ContentMD5: createHash('md5').update(bytes).digest('base64'),
        ContentType: 'application/octet-stream',
      }),
    );
  }

  /** A GET (of a range, when given); a missing key is the object 404. */
  async getObject(key: string, range?: string): Promise<{ Body: Readable; ContentLength?: number; ETag?: string }> {
    try {
      return await this.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: key, Range: range }));
    } catch (err) {
      if (isMissing(err)) throw new NotFoundError('object not found', 'object_not_found');
      throw err;
    }
  }

  /** Bytes [start, end) of a pack. */
  async range(pack: string, start: number, end: number): Promise<Buffer> {
    if (end === start) return Buffer.alloc(0);
    const res = await this.getObject(this.packKey(pack), `bytes=${start}-${end - 1}`);
    return readBody(res.Body, end - start, `${pack} at ${start}`);
  }

  /** Every key under the hub's prefix + `under`, with its size and when it was written, page by page. */
  async *list(under: string): AsyncIterable<{ key: string; size: number; lastModified: Date }> {
    const prefix = `${this.settings.prefix}${under}`;
    let token: string | undefined;
    do {
      const page = await this.send(
        new ListObjectsV2Command({
          Bucket: this.settings.bucket,
          Prefix: prefix,
          ContinuationToken: token,
          MaxKeys: 1000,
        }),
      );
      for (const o of (page.Contents ?? []) as { Key?: string; Size?: number; LastModified?: Date }[]) {
        if (o.Key) yield { key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * Deletes keys, PARALLEL at a time, one DeleteObject each: DeleteObjects needs a Content-MD5
   * on some servers (Swift) that the SDK no longer sends. A key already gone is no error.
   */
  async deleteKeys(keys: readonly string[]): Promise<void> {
    await mapLimited(keys, PARALLEL, (key) =>
      this.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: key })),
    );
  }

  close(): void {
    this.s3.destroy();
    if (this.signer !== this.s3) this.signer.destroy();
  }
}
