import http from 'node:http';
import zlib from 'node:zlib';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { chooseEncoding } from '../src/docs/compressed.ts';
import { startTestGateway, type TestGateway } from './helpers/gateway.ts';

/** /docs over HTTP (test/browser/docs.test.ts renders it and records every request the page makes). */
let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw?.close());

/** The raw answer, not decoded (fetch would decode it and hide the encoding). */
function rawGet(path: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    http
      .get(`${gw.url}${path}`, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      })
      .on('error', reject);
  });
}

test('the reference is one server-rendered page: every REST operation, its schemas, no script', async () => {
  const res = await gw.request('GET', '/docs');
  expect(res.status).toBe(200);
  const html = await res.text();
  const doc = await (await gw.request('GET', '/openapi.json')).json();
  let operations = 0;
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, { summary: string }>>)) {
    for (const [method, op] of Object.entries(item)) {
      operations++;
      expect(html, `${method} ${path}`).toContain(`<code>${path}</code>`);
      expect(html).toContain(
        op.summary.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;'),
      );
    }
  }
  expect(operations).toBeGreaterThan(30);
  for (const name of Object.keys(doc.components.schemas)) expect(html).toContain(`id="schema-${name}"`);
  expect(html).not.toMatch(/<script/i);
  expect(html).toContain('href="/openapi.json"');
  expect(html).toContain('curl -X PATCH');
});

test('the page and its stylesheet are sent compressed when the browser accepts it, byte for byte the same', async () => {
  const plain = await rawGet('/docs', {});
  expect(plain.headers['content-encoding']).toBeUndefined();
  const br = await rawGet('/docs', { 'accept-encoding': 'gzip, deflate, br' });
  expect(br.headers['content-encoding']).toBe('br');
  expect(br.headers.vary).toContain('accept-encoding');
  expect(br.body.length).toBeLessThan(plain.body.length / 4);
  expect(zlib.brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
  const gz = await rawGet('/docs', { 'accept-encoding': 'gzip' });
  expect(gz.headers['content-encoding']).toBe('gzip');
  expect(zlib.gunzipSync(gz.body).equals(plain.body)).toBe(true);
  const css = await rawGet('/docs/reference.css', { 'accept-encoding': 'br;q=0, gzip' });
  expect([css.status, css.headers['content-encoding'], css.headers['content-type']]).toEqual([
    200,
    'gzip',
    'text/css; charset=utf-8',
  ]);
});

test('Accept-Encoding is honoured as written, q=0 included', () => {
  expect(chooseEncoding(undefined)).toBe('identity');
  expect(chooseEncoding('gzip, br')).toBe('br');
  expect(chooseEncoding('br;q=0, gzip')).toBe('gzip');
  expect(chooseEncoding('gzip;q=0, br;q=0')).toBe('identity');
  expect(chooseEncoding('*')).toBe('br');
  expect(chooseEncoding('*, br;q=0')).toBe('gzip');
  expect(chooseEncoding('identity')).toBe('identity');
});
