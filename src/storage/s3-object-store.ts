import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { MikroORM } from '@mikro-orm/postgresql';
import { runSql } from '../db/sql.ts';
import { HashMismatchError, NotFoundError, PayloadTooLargeError, StorageUnavailableError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { consumeUpload, type DirectUploads, isObjectId, type ObjectStore } from './object-store.ts';

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
const PARALLEL = 8;
/**
 * Objects of one pack read in one ranged GET when they lie at most this far apart, and the range
 * stays at most RANGE_MAX long: the bytes read but not wanted stay small next to the request
 * saved, and PARALLEL ranges in flight bound the memory a batch takes.
 */
const RANGE_GAP = 64 * 1024;
const RANGE_MAX = 2 * 1024 * 1024;

interface Packed {
  object_id: string;
  /** The pack's key under the prefix. */
  pack: string;
  offset: number;
  size: number;
}

/** Runs `work` over `items` with at most `limit` in flight; results in input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
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
const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
const isMissing = (err: unknown) => statusOf(err) === 404;

/**
 * A response body of known length into one buffer, chunk by chunk: no list of chunks and
 * concatenated copy side by side, which would double what a read holds at its peak.
 */
async function readBody(body: Readable, length: number, what: string): Promise<Buffer> {
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

function client(settings: S3Settings, endpoint: string | undefined): S3Client {
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
 * Objects in an S3-compatible bucket, content-addressed like the other stores: which repo may
 * see an object is recorded in musehub_objects, not in the key. A push/objects batch is one
 * pack (`<prefix>packs/<uuid>.pack`, its objects end to end) whose index is rows of
 * musehub_packed_objects: an S3 request costs tens of milliseconds whatever its size, and a
 * clone of thousands of small objects then reads a few ranges of a few packs. An object stored
 * alone (a verified presigned upload, a batch of one) is its own key, `<prefix>objects/<id>`.
 * Presigned uploads land under `<prefix>staging/<repo>/<id>` and are moved into place only
 * once their bytes are verified (DirectUploads). Nothing here deletes an object: a repo delete
 * is soft, and only unverified staging uploads are ever removed.
 */
export class S3ObjectStore implements ObjectStore {
  readonly remote = true;
  // A batch is a few ranged GETs of packs (or one GET per object stored alone), PARALLEL at a
  // time; a fetch holds two batches.
  readonly readBatch = { count: 1024, bytes: 8 * 1024 * 1024 };
  readonly directUploads: DirectUploads;
  private readonly s3: S3Client;
  private readonly signer: S3Client;

  constructor(
    private readonly settings: S3Settings,
    private readonly orm: MikroORM,
    private readonly log?: Logger,
  ) {
    this.s3 = client(settings, settings.endpoint);
    this.signer = settings.presignEndpoint ? client(settings, settings.presignEndpoint) : this.s3;
    this.directUploads = {
      uploadUrl: (repoId, objectId, ttl) => this.uploadUrl(repoId, objectId, ttl),
      promote: (repoId, objectId, maxBytes) => this.promote(repoId, objectId, maxBytes),
      sweep: (before, limit) => this.sweep(before, limit),
    };
  }

  /** Checks the bucket answers to these credentials: a misconfiguration stops the start, with the reason. */
  async init(): Promise<this> {
    try {
      await this.s3.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
    } catch (err) {
      const where = this.settings.endpoint ?? 'AWS';
      const status = statusOf(err);
      const why = status === 404 ? 'no such bucket' : status === 403 ? 'access denied' : String(err);
      throw new Error(`S3 bucket ${this.settings.bucket} at ${where}: ${why}`);
    }
    return this;
  }

  private key(objectId: string): string {
    if (!isObjectId(objectId)) throw new Error(`not an object id: ${objectId}`);
    return `${this.settings.prefix}objects/${objectId}`;
  }

  private stagingKey(repoId: string, objectId: string): string {
    if (!isObjectId(objectId)) throw new Error(`not an object id: ${objectId}`);
    return `${this.settings.prefix}staging/${repoId}/${objectId}`;
  }

  /**
   * Every S3 call goes through here: an unreachable or failing store (no answer, 5xx, refused
   * credentials) becomes StorageUnavailableError, a 503 with Retry-After; other errors pass on.
   * The SDK has already retried (three attempts, with backoff) by then.
   */
  // biome-ignore lint/suspicious/noExplicitAny: the SDK's command types are generic over their own I/O.
  private async send<C extends { input: any }>(command: C): Promise<any> {
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

  /** Where the packed ones among `ids` are. */
  private async packed(ids: readonly string[]): Promise<Map<string, Packed>> {
    if (!ids.length) return new Map();
    const rows = await runSql<{ object_id: string; pack: string; offset: string; size: string }>(
      this.orm.em,
      `SELECT object_id, pack, "offset", size FROM musehub_packed_objects
        WHERE object_id IN (SELECT jsonb_array_elements_text(?::jsonb))`,
      [JSON.stringify(ids)],
    );
    return new Map(
      rows.map((r) => [
        r.object_id,
        { object_id: r.object_id, pack: r.pack, offset: Number(r.offset), size: Number(r.size) },
      ]),
    );
  }

  /** Bytes [start, end) of a pack. */
  private async range(pack: string, start: number, end: number): Promise<Buffer> {
    if (end === start) return Buffer.alloc(0);
    const res = await this.getObject(`${this.settings.prefix}${pack}`, `bytes=${start}-${end - 1}`);
    return readBody(res.Body, end - start, `${pack} at ${start}`);
  }

  async has(objectId: string): Promise<boolean> {
    if ((await this.packed([objectId])).size) return true;
    try {
      await this.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.key(objectId) }));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async put(objectId: string, bytes: Uint8Array): Promise<void> {
    await this.send(
      new PutObjectCommand({
        Bucket: this.settings.bucket,
        Key: this.key(objectId),
        Body: bytes,
        ContentLength: bytes.length,
        // Checked by the server: a body damaged on the way is refused, not stored under its id.
        ContentMD5: createHash('md5').update(bytes).digest('base64'),
        ContentType: 'application/octet-stream',
      }),
    );
  }

  /**
   * One pack for the batch (objects some pack already holds are left out); a batch of one is
   * stored alone. The index rows are written once the pack is stored, so no reader ever finds
   * a row whose bytes are not there; a crash in between leaves a pack nothing names.
   */
  async putMany(objects: readonly { objectId: string; bytes: Uint8Array }[]): Promise<void> {
    const unique = new Map(objects.map((o) => [o.objectId, o.bytes]));
    const known = await this.packed([...unique.keys()]);
    const fresh = [...unique].filter(([id]) => !known.has(id));
    if (fresh.length <= 1) {
      for (const [id, bytes] of fresh) await this.put(id, bytes);
      return;
    }
    const pack = `packs/${randomUUID()}.pack`;
    let offset = 0;
    const entries = fresh.map(([objectId, bytes]) => {
      if (!isObjectId(objectId)) throw new Error(`not an object id: ${objectId}`);
      const entry = { object_id: objectId, offset, size: bytes.length };
      offset += bytes.length;
      return entry;
    });
    const body = Buffer.concat(
      fresh.map(([, bytes]) => bytes),
      offset,
    );
    await this.send(
      new PutObjectCommand({
        Bucket: this.settings.bucket,
        Key: `${this.settings.prefix}${pack}`,
        Body: body,
        ContentLength: body.length,
        ContentMD5: createHash('md5').update(body).digest('base64'),
        ContentType: 'application/octet-stream',
      }),
    );
    await runSql(
      this.orm.em,
      `INSERT INTO musehub_packed_objects (object_id, pack, "offset", size)
       SELECT x.object_id, ?, x.offset, x.size FROM jsonb_to_recordset(?::jsonb) AS x(object_id text, "offset" bigint, size bigint)
       ON CONFLICT (object_id) DO NOTHING`,
      [pack, JSON.stringify(entries)],
    );
  }

  /** The gateway's own signed upload route (not handed out with this store): buffered, verified, put. */
  async putStream(objectId: string, body: Readable, maxBytes: number): Promise<number> {
    const chunks: Buffer[] = [];
    const { size, sha256 } = await consumeUpload(body, maxBytes, (buf) => chunks.push(buf));
    if (sha256 !== objectId) throw new HashMismatchError(objectId, sha256);
    await this.put(objectId, Buffer.concat(chunks, size));
    return size;
  }

  private async getObject(key: string, range?: string) {
    try {
      return await this.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: key, Range: range }));
    } catch (err) {
      if (isMissing(err)) throw new NotFoundError('object not found', 'object_not_found');
      throw err;
    }
  }

  private async getAlone(objectId: string): Promise<Buffer> {
    const res = await this.getObject(this.key(objectId));
    if (res.ContentLength === undefined) return Buffer.from(await res.Body.transformToByteArray());
    return readBody(res.Body, res.ContentLength, `object ${objectId}`);
  }

  async get(objectId: string): Promise<Buffer> {
    const p = (await this.packed([objectId])).get(objectId);
    return p ? this.range(p.pack, p.offset, p.offset + p.size) : this.getAlone(objectId);
  }

  /** Pack by pack, by offset, objects stored alone last: getMany's ranges then come out long. */
  async arrange<T extends { object_id: string }>(objects: readonly T[]): Promise<T[]> {
    const where = await this.packed(objects.map((o) => o.object_id));
    const key = (o: T) => where.get(o.object_id);
    return [...objects].sort((a, b) => {
      const pa = key(a);
      const pb = key(b);
      if (!pa || !pb) return pa ? -1 : pb ? 1 : 0;
      return pa.pack === pb.pack ? pa.offset - pb.offset : pa.pack < pb.pack ? -1 : 1;
    });
  }

  /**
   * Packed objects are read as ranges of their packs — neighbours within RANGE_GAP of each
   * other in one GET of at most RANGE_MAX — and the rest one GET each, PARALLEL at a time.
   */
  async getMany(objects: readonly { object_id: string; size: number }[]): Promise<Buffer[]> {
    const where = await this.packed(objects.map((o) => o.object_id));
    const out = new Array<Buffer>(objects.length);
    const reads: (() => Promise<void>)[] = [];
    const byPack = new Map<string, { i: number; p: Packed }[]>();
    objects.forEach((o, i) => {
      const p = where.get(o.object_id);
      if (!p) {
        reads.push(async () => {
          out[i] = await this.getAlone(o.object_id);
        });
        return;
      }
      const list = byPack.get(p.pack) ?? [];
      list.push({ i, p });
      byPack.set(p.pack, list);
    });
    for (const [pack, members] of byPack) {
      members.sort((a, b) => a.p.offset - b.p.offset);
      let run: { start: number; end: number; members: typeof members } | undefined;
      const flush = (r: NonNullable<typeof run>) =>
        reads.push(async () => {
          const bytes = await this.range(pack, r.start, r.end);
          const wanted = r.members.reduce((n, m) => n + m.p.size, 0);
          for (const { i, p } of r.members) {
            const slice = bytes.subarray(p.offset - r.start, p.offset - r.start + p.size);
            // Copied out when the range held bytes nobody asked for, so those are not kept alive.
            out[i] = wanted < bytes.length ? Buffer.from(slice) : slice;
          }
        });
      for (const m of members) {
        const end = m.p.offset + m.p.size;
        if (run && m.p.offset <= run.end + RANGE_GAP && Math.max(run.end, end) - run.start <= RANGE_MAX) {
          run.end = Math.max(run.end, end);
          run.members.push(m);
        } else {
          if (run) flush(run);
          run = { start: m.p.offset, end, members: [m] };
        }
      }
      if (run) flush(run);
    }
    await mapLimited(reads, PARALLEL, (read) => read());
    objects.forEach((o, i) => {
      if (out[i]!.length !== o.size)
        throw new Error(`object ${o.object_id} is ${out[i]!.length} bytes, its row says ${o.size}`);
    });
    return out;
  }

  async open(objectId: string): Promise<Readable> {
    const p = (await this.packed([objectId])).get(objectId);
    if (!p) return (await this.getObject(this.key(objectId))).Body as Readable;
    if (!p.size) return Readable.from([]);
    const res = await this.getObject(`${this.settings.prefix}${p.pack}`, `bytes=${p.offset}-${p.offset + p.size - 1}`);
    return res.Body as Readable;
  }

  private uploadUrl(repoId: string, objectId: string, ttlSeconds: number): Promise<string> {
    // Only the host is signed: the client may send any headers, but only to this key, only
    // until the URL expires. Its size cannot be capped by a presigned PUT; promote checks it.
    return getSignedUrl(
      this.signer,
      new PutObjectCommand({ Bucket: this.settings.bucket, Key: this.stagingKey(repoId, objectId) }),
      { expiresIn: ttlSeconds },
    );
  }

  private async removeStaged(key: string): Promise<void> {
    await this.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: key }));
  }

  /**
   * Reads the staged bytes once, hashing them, then copies exactly that version into place
   * (CopySourceIfMatch on the ETag read: an overwrite between the two is refused, not copied).
   * The bytes are verified even when the object is already stored for another repo: knowing an
   * id must not be enough to claim its content.
   */
  private async promote(repoId: string, objectId: string, maxBytes: number): Promise<number | null> {
    const staged = this.stagingKey(repoId, objectId);
    let res: { Body: Readable; ContentLength?: number; ETag?: string };
    try {
      res = await this.getObject(staged);
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
    if ((res.ContentLength ?? 0) > maxBytes) {
      res.Body.destroy();
      await this.removeStaged(staged);
      throw new PayloadTooLargeError(
        `uploaded object ${objectId} is ${res.ContentLength} bytes; the limit is ${maxBytes}`,
      );
    }
    let upload: { size: number; sha256: string };
    try {
      upload = await consumeUpload(res.Body, maxBytes, () => undefined);
    } catch (err) {
      res.Body.destroy();
      if (err instanceof PayloadTooLargeError) await this.removeStaged(staged);
      throw err;
    }
    if (upload.sha256 !== objectId) {
      await this.removeStaged(staged);
      throw new HashMismatchError(objectId, upload.sha256);
    }
    try {
      await this.send(
        new CopyObjectCommand({
          Bucket: this.settings.bucket,
          Key: this.key(objectId),
          CopySource: `${this.settings.bucket}/${staged.split('/').map(encodeURIComponent).join('/')}`,
          CopySourceIfMatch: res.ETag,
        }),
      );
    } catch (err) {
      // Rewritten (or removed) since it was read: what is there now was never verified.
      if (statusOf(err) === 412 || isMissing(err)) return null;
      throw err;
    }
    await this.removeStaged(staged);
    return upload.size;
  }

  private async sweep(before: Date, limit: number): Promise<{ removed: number; kept: number }> {
    let removed = 0;
    let kept = 0;
    let token: string | undefined;
    do {
      const page = await this.send(
        new ListObjectsV2Command({
          Bucket: this.settings.bucket,
          Prefix: `${this.settings.prefix}staging/`,
          ContinuationToken: token,
          MaxKeys: 1000,
        }),
      );
      const old: string[] = [];
      for (const o of page.Contents ?? []) {
        if (o.Key && o.LastModified && o.LastModified < before && removed + old.length < limit) old.push(o.Key);
        else kept++;
      }
      // One DeleteObject each: DeleteObjects needs Content-MD5 on some servers (Swift) that the SDK no longer sends.
      await mapLimited(old, PARALLEL, (key) => this.removeStaged(key));
      removed += old.length;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token && removed < limit);
    return { removed, kept };
  }

  close(): void {
    this.s3.destroy();
    if (this.signer !== this.s3) this.signer.destroy();
  }
}
