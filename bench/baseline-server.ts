// The baseline: a bare Hono endpoint answering the same refs bytes from memory.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const body = Buffer.from(process.argv[2] ?? '', 'base64');
const app = new Hono();
app.get('/refs', (c) => c.body(new Uint8Array(body), 200, { 'content-type': 'application/x-msgpack' }));
const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`listening ${info.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
