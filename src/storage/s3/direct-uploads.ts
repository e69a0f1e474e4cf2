import type { Readable } from 'node:stream';
import { CopyObjectCommand, DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { HashMismatchError, NotFoundError, PayloadTooLargeError } from '../../errors.ts';
import { consumeUpload, type DirectUploads, isObjectId } from '../object-store.ts';
import { isMissing, type S3Bucket, statusOf } from './client.ts';

/**
 * Presigned uploads straight to the bucket: they land under `<prefix>staging/<repo>/<id>` and
 * are moved into place only once their bytes are verified; what is never pushed is swept.
 */
export class S3DirectUploads implements DirectUploads {
  constructor(private readonly bucket: S3Bucket) {}

  private stagingKey(repoId: string, objectId: string): string {
    if (!isObjectId(objectId)) throw new Error(`not an object id: ${objectId}`);
    return `${this.bucket.settings.prefix}staging/${repoId}/${objectId}`;
  }

  uploadUrl(repoId: string, objectId: string, ttlSeconds: number): Promise<string> {
    // Only the host is signed: the client may send any headers, but only to this key, only
    // until the URL expires. Its size cannot be capped by a presigned PUT; promote checks it.
    return getSignedUrl(
      this.bucket.signer,
      new PutObjectCommand({ Bucket: this.bucket.settings.bucket, Key: this.stagingKey(repoId, objectId) }),
      { expiresIn: ttlSeconds },
    );
  }

  private async removeStaged(key: string): Promise<void> {
    await this.bucket.send(new DeleteObjectCommand({ Bucket: this.bucket.settings.bucket, Key: key }));
  }

  /**
   * Reads the staged bytes once, hashing them, then copies exactly that version into place
   * (CopySourceIfMatch on the ETag read: an overwrite between the two is refused, not copied).
   * The bytes are verified even when the object is already stored for another repo: knowing an
   * id must not be enough to claim its content.
   */
  async promote(repoId: string, objectId: string, maxBytes: number): Promise<number | null> {
    const staged = this.stagingKey(repoId, objectId);
    let res: { Body: Readable; ContentLength?: number; ETag?: string };
    try {
      res = await this.bucket.getObject(staged);
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
      await this.bucket.send(
        new CopyObjectCommand({
          Bucket: this.bucket.settings.bucket,
          Key: this.bucket.key(objectId),
          CopySource: `${this.bucket.settings.bucket}/${staged.split('/').map(encodeURIComponent).join('/')}`,
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

  async sweep(before: Date, limit: number): Promise<{ removed: number; kept: number }> {
    const old: string[] = [];
    let kept = 0;
    for await (const o of this.bucket.list('staging/')) {
      if (o.lastModified < before && old.length < limit) old.push(o.key);
      else kept++;
    }
    await this.bucket.deleteKeys(old);
    return { removed: old.length, kept };
  }
}
