import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { addCollaborator, createRepo, type RepoBody } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { signIn } from '../helpers/web.ts';

/**
 * "No" costs the same whatever the reason: a stranger asking about a private repo makes the
 * gateway run exactly the SQL statements (same text, same number) it runs for a repo that never
 * existed, on every surface, so the time of the answer cannot tell them apart (the bench's
 * `npm run bench:timing` measures the time itself). Statements are counted at the knex layer
 * every query goes through.
 */
let gw: TestGateway;
let carol: { token: string };
let carolCookie: string;
let priv: RepoBody;
let deleted: RepoBody;
const statements: string[] = [];

beforeAll(async () => {
  gw = await startTestGateway();
  const alice = await gw.user('alice');
  carol = await gw.user('carol');
  await gw.user('dave');
  priv = await createRepo(gw, alice.token, { name: 'secret' });
  await addCollaborator(gw, alice.token, priv.repoId, 'dave', 'read');
  deleted = await createRepo(gw, alice.token, { name: 'gone', visibility: 'public' });
  expect((await gw.request('DELETE', `/api/v1/repos/${deleted.repoId}`, { token: alice.token })).status).toBe(204);
  carolCookie = (await signIn(gw, carol.token)).cookie;
  // Only the requests' statements: the webhook dispatcher polls on its own timer, and on a busy
  // machine its poll landed inside a captured request (seen in a loaded CI run).
  await gw.dispatcher.stop();
  gw.orm.em
    .getConnection()
    .getKnex()
    .on('query', (q: { sql: string }) => statements.push(q.sql));
});
afterAll(() => gw?.close());

type Target = { repoId: string; slug: string };
const never: Target = { repoId: randomUUID(), slug: 'never-was' };

/** The statements one request ran; asked twice, so a cache the first request filled is in use. */
async function sqlOf(method: string, path: string, headers: Record<string, string>): Promise<string[]> {
  const send = async () => {
    const res = await fetch(`${gw.url}${path}`, { method, headers, redirect: 'manual' });
    expect(res.status, `${method} ${path}`).toBe(404);
    await res.arrayBuffer();
  };
  await send();
  statements.length = 0;
  await send();
  return [...statements];
}

const bearer = () => ({ authorization: `Bearer ${carol.token}` });
const surfaces: [string, string, (t: Target) => string, () => Record<string, string>][] = [
  ['wire refs, stranger', 'GET', (t) => `/alice/${t.slug}/refs`, bearer],
  ['wire fetch, stranger', 'POST', (t) => `/alice/${t.slug}/fetch`, bearer],
  ['REST repo by id', 'GET', (t) => `/api/v1/repos/${t.repoId}`, bearer],
  ['REST repo by name', 'GET', (t) => `/api/v1/users/alice/repos/${t.slug}`, bearer],
  ['REST issues list', 'GET', (t) => `/api/v1/repos/${t.repoId}/issues`, bearer],
  ['REST delete by a stranger', 'DELETE', (t) => `/api/v1/repos/${t.repoId}`, bearer],
  ['REST restore by a stranger', 'POST', (t) => `/api/v1/repos/${t.repoId}/restore`, bearer],
  ['repo page, signed in', 'GET', (t) => `/alice/${t.slug}`, () => ({ cookie: carolCookie, accept: 'text/html' })],
  ['wire refs, anonymous', 'GET', (t) => `/alice/${t.slug}/refs`, () => ({})],
  ['REST repo by id, anonymous', 'GET', (t) => `/api/v1/repos/${t.repoId}`, () => ({})],
];

test.each(surfaces)(
  '%s: private and deleted run the statements a never-existed repo runs',
  async (_, method, path, headers) => {
    const expected = await sqlOf(method, path(never), headers());
    // REST and pages ask the database on every request (the wire protocol answers from its cache).
    if (!path(never).endsWith('/refs') && !path(never).endsWith('/fetch')) expect(expected.length).toBeGreaterThan(0);
    expect(await sqlOf(method, path(priv), headers())).toEqual(expected);
    expect(await sqlOf(method, path(deleted), headers())).toEqual(expected);
  },
);
