import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** SHA-256 fingerprint of the certificate the server presented (https only). */
  fingerprint?: string;
}

/**
 * One request with what fetch cannot set: a CA to trust, the local address to send from
 * (127.0.0.0/8 is all this machine: 127.0.0.5 plays another client), a TLS version range,
 * an agent (one kept-alive connection).
 */
export function request(
  url: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: Buffer | string;
    ca?: Buffer;
    localAddress?: string;
    agent?: http.Agent | false;
    maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  } = {},
): Promise<Answer> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      u,
      {
        method: opts.method ?? 'GET',
        headers: opts.headers,
        ca: opts.ca,
        localAddress: opts.localAddress,
        agent: opts.agent ?? false,
        ...(opts.maxVersion ? { maxVersion: opts.maxVersion, minVersion: 'TLSv1' } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        const socket = res.socket as TLSSocket;
        const fingerprint = socket.getPeerCertificate?.()?.fingerprint256;
        res.on('data', (d) => chunks.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), fingerprint }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${url} within 30 s`)));
    req.end(opts.body);
  });
}
