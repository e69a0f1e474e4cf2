import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ERROR_CODES, statusesOf } from '../src/error-codes.ts';
import { startTestGateway, type TestGateway } from './helpers/gateway.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw?.close());

const codes = Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[];

test('the README lists every error code with its status, and nothing else', () => {
  const readme = fs.readFileSync(path.resolve(import.meta.dirname, '../README.md'), 'utf8');
  const rows = [...readme.matchAll(/^\| `([a-z_]+)` \| ([\d, ]+) \|/gm)].map((m) => [m[1], m[2]!.trim()]);
  expect(rows).toEqual(codes.map((c) => [c, statusesOf(c).join(', ')]));
});

test('/openapi.json enumerates the same codes in its Error schema', async () => {
  const doc = await (await gw.request('GET', '/openapi.json')).json();
  expect(doc.components.schemas.Error.properties.code.enum).toEqual(codes);
});

test('answers carry catalogued codes with a status the catalogue gives them', async () => {
  const probes = [
    await gw.request('GET', '/no/such/route/at/all'),
    await gw.request('GET', '/api/v1/repos/00000000-0000-4000-8000-000000000000'),
    await gw.request('GET', '/api/v1/repos', { headers: { authorization: 'Bearer nonsense' } }),
    await gw.request('POST', '/api/v1/repos', { token: (await gw.user('ed')).token, json: { name: 7 } }),
  ];
  for (const res of probes) {
    const body = await res.json();
    expect(codes).toContain(body.code);
    expect(statusesOf(body.code)).toContain(res.status);
  }
});
