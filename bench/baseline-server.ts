// The baseline: a bare Hono endpoint answering the same refs bytes from memory; with a second
// argument N > 1, N processes sharing the port (node:cluster), the baseline for N gateway workers.
import cluster from 'node:cluster';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const workers = Number(process.argv[3] ?? 1);
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const body = Buffer.from(process.argv[2] ?? '', 'base64');
  const app = new Hono();
  app.get('/refs', (c) => c.body(new Uint8Array(body), 200, { 'content-type': 'application/x-msgpack' }));
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
    process.stdout.write(`listening ${info.port}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
