import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type S3TestServer, startS3TestServer } from './s3-server.ts';

/** What a test file needs to point a gateway or an S3 client at the shared server. */
export interface S3Endpoint {
  endpoint: string;
  bucket: string;
  env: Record<string, string>;
}

/**
 * The shared S3 server, started only when a test file first asks for it, once per run. Vitest's
 * global set-up runs in the main process and test files in workers, and what it provides to them
 * must be plain data, so it provides the address of this small loopback service instead: the
 * first `GET /s3` starts Swift (every other request waits for the same start), and the answer is
 * the endpoint, or a 503 whose body says why Swift could not start. A run whose files never ask
 * never starts Swift.
 */
export async function serveS3OnDemand(): Promise<{ url: string; close(): Promise<void> }> {
  let starting: Promise<S3TestServer> | undefined;
  const server = http.createServer((req, res) => {
    if (req.url !== '/s3') {
      res.writeHead(404).end();
      return;
    }
    starting ??= startS3TestServer();
    starting.then(
      (s3) => {
        const body: S3Endpoint = { endpoint: s3.endpoint, bucket: s3.bucket, env: s3.env };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      },
      (err: Error) => res.writeHead(503, { 'content-type': 'text/plain' }).end(err.message),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/s3`,
    async close() {
      await new Promise((resolve) => server.close(resolve));
      // A start still under way is waited for, so that its processes are stopped too.
      const s3 = await starting?.catch(() => undefined);
      await s3?.close();
    },
  };
}

let asked: Promise<S3Endpoint> | undefined;

/** The shared S3 server, from a test file (starts it if no file has yet). */
export function sharedS3(controlUrl: string): Promise<S3Endpoint> {
  // node:http, not fetch: the first start may install Swift with apt-get, longer than fetch's
  // five-minute header timeout; this request has no timeout of its own (Swift's start has).
  asked ??= new Promise((resolve, reject) => {
    http
      .get(controlUrl, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode === 200) resolve(JSON.parse(text) as S3Endpoint);
          else reject(new Error(text));
        });
      })
      .on('error', reject);
  });
  return asked;
}
