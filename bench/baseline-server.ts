// The baseline: a bare Hono endpoint answering the same refs bytes from memory; with a second
// argument N > 1, N processes sharing the port (node:cluster), the baseline for N gateway workers.
// GET /blob/<n> answers n bytes from memory. A third argument names a folder of fetch answers: POST /fetch/<name> reads and decodes the
// request (a Set of its `have`, the least any server must build) and answers that file's bytes.
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Packr } from 'msgpackr';

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
  // GET /blob/<n>: n bytes from memory, the ceiling for a clone of n bytes over HTTP here.
  const blobs = new Map<number, Uint8Array<ArrayBuffer>>();
  app.get('/blob/:bytes', (c) => {
    const n = Number(c.req.param('bytes'));
    if (!blobs.has(n)) blobs.set(n, new Uint8Array(n).fill(7));
    return c.body(blobs.get(n)!, 200, { 'content-type': 'application/octet-stream' });
  });
  const answers = process.argv[4];
  if (answers) {
    const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
    const cache = new Map<string, Buffer>();
    const answer = (name: string) =>
      cache.get(name) ?? cache.set(name, readFileSync(path.join(answers, path.basename(name)))).get(name)!;
    app.post('/fetch/:name', async (c) => {
      const request = packr.unpack(new Uint8Array(await c.req.arrayBuffer())) as { have: string[] };
      const held = new Set(request.have);
      return c.body(new Uint8Array(answer(c.req.param('name'))), 200, {
        'content-type': 'application/x-msgpack',
        'x-held': String(held.size),
      });
    });
  }
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
    process.stdout.write(`listening ${info.port}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
