import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { createRepo, expectRepo404, type RepoBody } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let owner: U;
let rita: U;
let ada: U;
let sam: U;
let repo: RepoBody;

beforeAll(async () => {
  gw = await startTestGateway();
  owner = await gw.user('olive');
  rita = await gw.user('rita');
  ada = await gw.user('ada');
  sam = await gw.user('sam');
  repo = await createRepo(gw, owner.token);
});
afterAll(() => gw?.close());
// Whatever a test did (deletes, restores, removals), the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

const collab = (u = '') => `/api/v1/repos/${repo.repoId}/collaborators${u ? `/${u}` : ''}`;

test('owner adds (201), changes (200), lists and removes collaborators; access follows', async () => {
  await expectRepo404(await gw.request('GET', `/api/v1/repos/${repo.repoId}`, { token: rita.token }));
  const added = await gw.request('PUT', collab('rita'), { token: owner.token, json: { permission: 'read' } });
  expect(added.status).toBe(201);
  expect(await added.json()).toMatchObject({ username: 'rita', permission: 'read' });
  expect((await gw.request('GET', `/api/v1/repos/${repo.repoId}`, { token: rita.token })).status).toBe(200);

  const changed = await gw.request('PUT', collab('rita'), { token: owner.token, json: { permission: 'write' } });
  expect(changed.status).toBe(200);
  const list = await (await gw.request('GET', collab(), { token: rita.token })).json();
  expect(list.collaborators).toEqual([expect.objectContaining({ username: 'rita', permission: 'write' })]);

  expect((await gw.request('DELETE', collab('rita'), { token: owner.token })).status).toBe(204);
  await expectRepo404(await gw.request('GET', `/api/v1/repos/${repo.repoId}`, { token: rita.token }));
  expect((await gw.request('DELETE', collab('rita'), { token: owner.token })).status).toBe(404);
});

test('the wire protocol follows collaborator changes at once (its cached repo carries the collaborators)', async () => {
  const refs = async (u: U) =>
    (
      await fetch(`${gw.url}/olive/${repo.slug}/refs`, {
        headers: { accept: 'application/x-msgpack', authorization: `Bearer ${u.token}` },
      })
    ).status;
  const presign = async (u: U) =>
    (
      await gw.request('POST', `/olive/${repo.slug}/presign`, {
        token: u.token,
        json: { object_ids: ['a'.repeat(64)], direction: 'put' },
      })
    ).status;
  expect(await refs(sam)).toBe(404); // cached now, without sam
  await gw.request('PUT', collab('sam'), { token: owner.token, json: { permission: 'read' } });
  expect(await refs(sam)).toBe(200);
  expect(await presign(sam)).toBe(403);
  await gw.request('PUT', collab('sam'), { token: owner.token, json: { permission: 'write' } });
  expect(await presign(sam)).toBe(200);
  expect((await gw.request('DELETE', collab('sam'), { token: owner.token })).status).toBe(204);
  expect(await refs(sam)).toBe(404);
  expect(await presign(sam)).toBe(404);
});

test('an admin collaborator may manage collaborators; a writer or reader gets 403', async () => {
  await gw.request('PUT', collab('ada'), { token: owner.token, json: { permission: 'admin' } });
  await gw.request('PUT', collab('rita'), { token: owner.token, json: { permission: 'write' } });
  expect((await gw.request('PUT', collab('sam'), { token: ada.token, json: { permission: 'read' } })).status).toBe(201);
  const denied = await gw.request('PUT', collab('sam'), { token: rita.token, json: { permission: 'admin' } });
  expect(denied.status).toBe(403);
  expect((await gw.request('DELETE', collab('ada'), { token: sam.token })).status).toBe(403);
});

test.each([
  [{ permission: 'owner' }, /permission/],
  [{}, /permission/],
])('400 for %o', async (json, detail) => {
  const res = await gw.request('PUT', collab('rita'), { token: owner.token, json });
  expect(res.status).toBe(400);
  expect((await res.json()).detail).toMatch(detail);
});

test('unknown user 404; the owner cannot be a collaborator', async () => {
  const unknown = await gw.request('PUT', collab('nobody'), { token: owner.token, json: { permission: 'read' } });
  expect(unknown.status).toBe(404);
  expect((await unknown.json()).code).toBe('user_not_found');
  expect((await gw.request('PUT', collab('olive'), { token: owner.token, json: { permission: 'read' } })).status).toBe(
    400,
  );
});

test('a stranger gets the repo 404 on every collaborator route of a private repo', async () => {
  const stranger = await gw.user('zed');
  await expectRepo404(await gw.request('GET', collab(), { token: stranger.token }));
  await expectRepo404(await gw.request('PUT', collab('zed'), { token: stranger.token, json: { permission: 'admin' } }));
  await expectRepo404(await gw.request('DELETE', collab('rita'), { token: stranger.token }));
});

test('on a public repo, strangers may not list collaborators (403) nor add themselves', async () => {
  const pub = await createRepo(gw, owner.token, { visibility: 'public' });
  const stranger = await gw.user('yan');
  expect((await gw.request('GET', `/api/v1/repos/${pub.repoId}/collaborators`, { token: stranger.token })).status).toBe(
    403,
  );
  const self = await gw.request('PUT', `/api/v1/repos/${pub.repoId}/collaborators/yan`, {
    token: stranger.token,
    json: { permission: 'admin' },
  });
  expect(self.status).toBe(403);
});
