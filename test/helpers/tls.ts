import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { aptInstall } from './apt.ts';

const run = promisify(execFile);

/**
 * A test certificate authority made with the openssl command, the way an operator makes one.
 * Python 3.14's ssl (the muse client) checks strictly: the CA carries critical
 * basicConstraints CA:TRUE and keyUsage keyCertSign, and a leaf names its IPs as IP SANs.
 */
export interface TestCa {
  dir: string;
  /** The CA certificate (PEM), for SSL_CERT_FILE or fetch's `ca`. */
  caPath: string;
  ca: Buffer;
  /** A certificate and key signed by this CA for the given names (IPs become IP SANs). */
  issue(
    name: string,
    opts?: { days?: number; names?: string[] },
  ): Promise<{ certPath: string; keyPath: string; chainPath: string }>;
  close(): Promise<void>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  if (!existsSync('/usr/bin/openssl')) await aptInstall(['openssl'], 'the TLS tests need the openssl command');
  await run('openssl', args, { cwd });
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export async function createTestCa(): Promise<TestCa> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-test-ca-'));
  await fs.chmod(dir, 0o755);
  await openssl(
    [
      'req',
      '-x509',
      ...KEY,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '3650',
      '-subj',
      '/CN=MuseHub test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const caPath = path.join(dir, 'ca.pem');
  const ca = await fs.readFile(caPath);
  let serial = 0;
  return {
    dir,
    caPath,
    ca,
    async issue(name, { days = 30, names = ['127.0.0.1', '127.0.0.2', 'localhost'] } = {}) {
      const base = `${name}-${++serial}`;
      const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
      await fs.writeFile(
        path.join(dir, `${base}.ext`),
        [
          `subjectAltName=${san}`,
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=serverAuth',
          '',
        ].join('\n'),
      );
      await openssl(['req', ...KEY, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${name}`], dir);
      await openssl(
        [
          'x509',
          '-req',
          '-in',
          `${base}.csr`,
          '-CA',
          'ca.pem',
          '-CAkey',
          'ca.key',
          '-set_serial',
          String(1000 + serial),
          '-days',
          String(days),
          '-extfile',
          `${base}.ext`,
          '-out',
          `${base}.pem`,
        ],
        dir,
      );
      const chainPath = path.join(dir, `${base}.chain.pem`);
      await fs.writeFile(chainPath, Buffer.concat([await fs.readFile(path.join(dir, `${base}.pem`)), ca]));
      await fs.chmod(path.join(dir, `${base}.key`), 0o644);
      return { certPath: path.join(dir, `${base}.pem`), keyPath: path.join(dir, `${base}.key`), chainPath };
    },
    close: () => fs.rm(dir, { recursive: true, force: true }),
  };
}
