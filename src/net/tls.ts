import { createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';

/** The PEM files named by MUSEHUB_TLS_CERT (the certificate, then any chain) and MUSEHUB_TLS_KEY. */
export interface TlsFiles {
  certPath: string;
  keyPath: string;
}

/** A certificate and key read from disk and checked to belong together. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  notAfter: Date;
  /** SHA-256 fingerprint of the leaf certificate, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string;
  subject: string;
}

/** A certificate or key that cannot be served; `variable` names the setting at fault. */
export class TlsFileError extends Error {
  override name = 'TlsFileError';
  constructor(
    readonly variable: 'MUSEHUB_TLS_CERT' | 'MUSEHUB_TLS_KEY',
    message: string,
  ) {
    super(message);
  }
}

/** TLS 1.2 is the floor (RFC 8996 retired 1.0 and 1.1); HTTP/1.1 only, which is what the muse client speaks. */
export const TLS_MIN_VERSION = 'TLSv1.2';

const readPem = (variable: TlsFileError['variable'], file: string): Buffer => {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new TlsFileError(
      variable,
      `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
};

/**
 * Reads and checks the pair: both files readable PEM, the key the certificate's own, the
 * certificate valid now. Used at start (any failure stops the process) and on SIGHUP (any
 * failure keeps the certificate already served), so both apply the same checks.
 */
export function readTlsMaterial({ certPath, keyPath }: TlsFiles, now = new Date()): TlsMaterial {
  const cert = readPem('MUSEHUB_TLS_CERT', certPath);
  const key = readPem('MUSEHUB_TLS_KEY', keyPath);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new TlsFileError('MUSEHUB_TLS_CERT', `${certPath} holds no PEM certificate`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new TlsFileError(
      'MUSEHUB_TLS_KEY',
      `${keyPath} holds no readable PEM private key (a passphrase-protected key is not supported)`,
    );
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsFileError('MUSEHUB_TLS_KEY', `${keyPath} is not the private key of the certificate in ${certPath}`);
  }
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    throw new TlsFileError('MUSEHUB_TLS_CERT', `the certificate in ${certPath} expired on ${notAfter.toISOString()}`);
  }
  if (new Date(leaf.validFrom).getTime() > now.getTime()) {
    throw new TlsFileError(
      'MUSEHUB_TLS_CERT',
      `the certificate in ${certPath} is not valid before ${new Date(leaf.validFrom).toISOString()}`,
    );
  }
  try {
    // What the server will do with them: the chain after the leaf must parse too.
    tls.createSecureContext({ cert, key, minVersion: TLS_MIN_VERSION });
  } catch (err) {
    throw new TlsFileError('MUSEHUB_TLS_CERT', `${certPath} cannot be served: ${(err as Error).message}`);
  }
  return { cert, key, notAfter, fingerprint: leaf.fingerprint256, subject: leaf.subject.replace(/\n/g, ', ') };
}

/** Days left before `notAfter`, rounded down. */
export const daysLeft = (notAfter: Date, now = new Date()) =>
  Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000);

/** A certificate this close to expiry is logged as a warning at start and on every reload. */
export const EXPIRY_WARNING_DAYS = 14;
