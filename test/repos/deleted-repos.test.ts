import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { addCollaborator, createRepo, REPO_404 } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * GET /api/v1/user/deleted-repos and restore by owner/slug: an owner can find and bring back
 * their deleted repos without having written down an id; nobody else learns they exist.
 */
let gw: TestGateway;
type U = { token: string; userId: string; username: string };
let erin: U;
let fred: U;
beforeAll(async () => {
  gw = await startTestGateway();
  erin = await gw.user('erin');
  fred = await gw.user('fred');
});
afterAll(() => gw?.close());
afterEach(() => gw.expectIntegrity());

const deletedList = async (u: U) => {
  const res = await gw.request('GET', '/api/v1/user/deleted-repos', { token: u.token });
  expect(res.status).toBe(200);
  return ((await res.json()) as { repos: { repoId: string; slug: string; nameFree: boolean; tombstoned: object }[] })
    .repos;
};

test('the owner lists their deleted repos newest first, with what each delete tombstoned and whether the name is free', async () => {
  const older = await createRepo(gw, erin.token, { name: 'first gone', visibility: 'public' });
  const newer = await createRepo(gw, erin.token, { name: 'second gone' });
  await addCollaborator(gw, erin.token, older.repoId, 'fred', 'write');
  await gw.request('POST', `/api/v1/repos/${older.repoId}/issues`, { token: erin.token, json: { title: 'kept' } });
  for (const r of [older, newer]) {
    expect((await gw.request('DELETE', `/api/v1/repos/${r.repoId}`, { token: erin.token })).status).toBe(204);
  }
  const listed = await deletedList(erin);
  expect(listed.map((r) => r.slug)).toEqual(['second-gone', 'first-gone']);
  expect(listed[1]).toMatchObject({
    repoId: older.repoId,
    nameFree: true,
    tombstoned: { issues: 1, issueComments: 0, proposals: 0, proposalComments: 0 },
  });
  // A collaborator and a stranger see nothing of erin's, and cannot restore them by name.
  expect(await deletedList(fred)).toEqual([]);
  const byName = await gw.request('POST', '/api/v1/users/erin/repos/first-gone/restore', { token: fred.token });
  expect(byName.status).toBe(404);
  expect(await byName.text()).toBe(REPO_404);
  expect((await gw.request('GET', '/api/v1/user/deleted-repos')).status).toBe(401);

  // Name taken meanwhile: listed as not free; restore says so (409) and changes nothing.
  await createRepo(gw, erin.token, { name: 'second gone' });
  expect((await deletedList(erin)).find((r) => r.slug === 'second-gone')?.nameFree).toBe(false);
  const before = await gw.fingerprint();
  const taken = await gw.request('POST', '/api/v1/users/erin/repos/second-gone/restore', { token: erin.token });
  expect(taken.status).toBe(409);
  expect((await taken.json()).code).toBe('repo_name_taken');
  expect(await gw.fingerprint()).toBe(before);

  // Restored by name, with its issue; gone from the list.
  const restored = await gw.request('POST', '/api/v1/users/erin/repos/first-gone/restore', { token: erin.token });
  expect(restored.status).toBe(200);
  expect((await restored.json()).repoId).toBe(older.repoId);
  expect((await gw.request('GET', `/api/v1/repos/${older.repoId}/issues/1`)).status).toBe(200);
  expect((await deletedList(erin)).map((r) => r.slug)).toEqual(['second-gone']);
});
