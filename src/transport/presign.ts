import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Signed upload URLs served by the gateway itself. The signature binds the repo, the object
 * id, the size limit, the expiry and the user it was granted to, so a URL cannot be reused for
 * another repo or object, for more bytes, after it expires — nor, since the upload re-checks
 * that user's write access, after they lost it. The muse client sends no Authorization header to it.
 */
export interface PresignGrant {
  repoId: string;
  objectId: string;
  maxBytes: number;
  expires: number; // unix seconds
  userId: string;
}

const message = (g: PresignGrant) => `put\n${g.repoId}\n${g.objectId}\n${g.maxBytes}\n${g.expires}\n${g.userId}`;

export function signGrant(key: Buffer, grant: PresignGrant): string {
  return createHmac('sha256', key).update(message(grant)).digest('base64url');
}

export function presignedPutUrl(publicUrl: string, key: Buffer, grant: PresignGrant): string {
  const q = new URLSearchParams({
    max: String(grant.maxBytes),
    exp: String(grant.expires),
    u: grant.userId,
    sig: signGrant(key, grant),
  });
  return `${publicUrl}/presigned/${grant.repoId}/${grant.objectId}?${q}`;
}

/** True when the signature matches and the grant has not expired. */
export function verifyGrant(
  key: Buffer,
  grant: PresignGrant,
  signature: string,
  nowSeconds = Date.now() / 1000,
): boolean {
  const expected = Buffer.from(signGrant(key, grant));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected) && grant.expires >= nowSeconds;
}

/**
 * MUSEHUB_PRESIGN_SECRET when set (required when gateways run on several machines);
 * otherwise a key generated once and kept in the data directory.
 */
export async function loadPresignKey(dataDir: string, fromEnv: string | undefined): Promise<Buffer> {
  if (fromEnv) return Buffer.from(fromEnv, 'utf8');
  const file = path.join(dataDir, 'presign.key');
  try {
    return Buffer.from((await fs.readFile(file, 'utf8')).trim(), 'base64url');
  } catch {
    await fs.mkdir(dataDir, { recursive: true });
    const key = randomBytes(32);
    try {
      await fs.writeFile(file, key.toString('base64url'), { mode: 0o600, flag: 'wx' });
      return key;
    } catch {
      // Another process created it first: use theirs.
      return Buffer.from((await fs.readFile(file, 'utf8')).trim(), 'base64url');
    }
  }
}
