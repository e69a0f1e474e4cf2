import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createToken, revokeToken } from '../../src/users/index.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { eventually } from '../helpers/process.ts';

let gw: TestGateway;
let alice: { token: string; userId: string };
beforeAll(async () => {
  // A ten-minute cache TTL: only the revocation's NOTIFY can explain a prompt refusal.
  gw = await startTestGateway({ MUSEHUB_REPO_CACHE_TTL_MS: '600000' });
  alice = await gw.user('alice');
});
afterAll(() => gw?.close());

const listRepos = (headers: Record<string, string> = {}) => gw.request('GET', '/api/v1/repos', { headers });

test('a valid token authenticates', async () => {
  const res = await listRepos({ authorization: `Bearer ${alice.token}` });
  expect(res.status).toBe(200);
});

test('no token on a route that needs one: 401 with WWW-Authenticate', async () => {
  const res = await listRepos();
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toBe('Bearer');
  expect((await res.json()).detail).toBeTypeOf('string');
});

test.each([
  [
    'unknown token of the right shape',
    'Bearer mh_00000000000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  ],
  ['garbage', 'Bearer not-a-token'],
  ['wrong secret for a real token id', 'WRONG_SECRET'],
  ['not a bearer scheme', 'Basic YWxpY2U6cHc='],
])('%s: 401 even on a public read', async (_, header) => {
  const value = header === 'WRONG_SECRET' ? `Bearer ${alice.token.slice(0, -5)}AAAAA` : header;
  const res = await gw.request('GET', '/api/v1/users/alice/repos', { headers: { authorization: value } });
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toBe('Bearer');
  expect((await res.json()).code).toBe('invalid_token');
  // The same read without a token is fine: only a bad token is refused.
  expect((await gw.request('GET', '/api/v1/users/alice/repos')).status).toBe(200);
});

test('a revoked token is refused once the revocation notice arrives, long before the cache TTL', async () => {
  const { token, record } = await createToken(gw.em(), 'alice', 'ci');
  expect((await listRepos({ authorization: `Bearer ${token}` })).status).toBe(200);
  const missesBefore = gw.tokens.stats.misses;
  expect((await listRepos({ authorization: `Bearer ${token}` })).status).toBe(200);
  expect(gw.tokens.stats.misses).toBe(missesBefore); // served from the token cache
  // As `musehub token revoke` does it: a database write plus NOTIFY, not a call into this process.
  await revokeToken(gw.em(), record.tokenId);
  const t0 = performance.now();
  await eventually(async () => (await listRepos({ authorization: `Bearer ${token}` })).status === 401, 2_000, 1);
  console.log(`token revocation took effect after ${(performance.now() - t0).toFixed(1)} ms`);
  const res = await listRepos({ authorization: `Bearer ${token}` });
  expect(res.status).toBe(401);
  expect((await res.json()).detail).toBe('invalid or revoked token');
  // Other tokens of the same user keep working.
  expect((await listRepos({ authorization: `Bearer ${alice.token}` })).status).toBe(200);
});

test('only a hash of the secret is stored', async () => {
  const rows = await sql<{ token_hash: string }>(gw.databaseUrl, 'SELECT token_hash FROM musehub_tokens');
  // Everything after `mh_<32 hex>_` (base64url: it may itself contain '_').
  const secret = alice.token.slice('mh_'.length + 32 + 1);
  expect(secret).toHaveLength(43);
  for (const { token_hash } of rows) {
    expect(token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(token_hash).not.toContain(secret);
  }
  expect(rows.map((r) => r.token_hash)).toContain(createHash('sha256').update(secret).digest('hex'));
});
