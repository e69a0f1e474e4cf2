import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { createRepo } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { expectSameTree, MuseUser, writeFiles } from './muse.ts';

/**
 * The real muse client against a gateway on 127.0.0.1 (plain http: the client's loopback
 * exemption), filesystem store. Every step is a muse command a person types; the files each
 * working tree ends with are compared byte for byte.
 */
let gw: TestGateway;
let root: string;
let alice: MuseUser;
let bob: MuseUser;
let aliceToken: string;
let remote: string;
let repoId: string;

const headOf = async (branch: string) => {
  const res = await fetch(`${remote}/refs`, { headers: { authorization: `Bearer ${aliceToken}` } });
  return res.status === 200
    ? ((await res.json()).branch_heads?.[branch] as string | undefined)
    : `status ${res.status}`;
};

beforeAll(async () => {
  gw = await startTestGateway();
  root = await fs.mkdtemp('/tmp/musehub-client-core-');
  const wrapper = inject('museWrapper');
  alice = new MuseUser(wrapper, root, 'alice');
  bob = new MuseUser(wrapper, root, 'bob');
  aliceToken = (await gw.user('alice')).token;
  const repo = await createRepo(gw, aliceToken, { name: 'neo soul', visibility: 'public' });
  repoId = repo.repoId;
  remote = `${gw.url}/alice/${repo.slug}`;
  await alice.login(gw.url, aliceToken);
});
afterAll(async () => {
  await gw?.close();
  if (root) await fs.rm(root, { recursive: true, force: true });
});

test('init → commit → push → public clone → second commit → push → pull origin main', async () => {
  await alice.newRepo('work', {
    'song.mid': randomBytes(3000),
    'lyrics/verse.txt': 'first verse\n',
    'notes.md': '# neo soul\n',
  });
  await alice.ok('work', 'remote', 'add', 'origin', remote);
  expect(await alice.ok('work', 'push', 'origin', 'main')).toMatch(/✅ Pushed 1 commit\(s\)/);

  // Bob has no token at all: `muse clone` sends none, and the repo is public.
  expect(await bob.ok('.', 'clone', remote, path.join(root, 'bob-clone'))).toMatch(/✅ Cloned into/);
  await expectSameTree(path.join(root, 'bob-clone'), path.join(root, 'work'));

  await writeFiles(path.join(root, 'work'), { 'lyrics/verse.txt': 'first verse, rewritten\n', 'bridge.txt': 'new' });
  await alice.ok('work', 'commit', '-m', 'second');
  expect(await alice.ok('work', 'push', 'origin', 'main')).toMatch(/✅ Pushed 1 commit\(s\)/);
  await bob.ok('bob-clone', 'pull', 'origin', 'main');
  await expectSameTree(path.join(root, 'bob-clone'), path.join(root, 'work'));
  await gw.expectIntegrity();
});

test('push of a new branch: the hub holds it, a fresh clone checks it out with the same files', async () => {
  await alice.ok('work', 'checkout', '-b', 'verse-two');
  await writeFiles(path.join(root, 'work'), { 'lyrics/verse2.txt': 'second verse\n' });
  await alice.ok('work', 'commit', '-m', 'verse two');
  expect(await alice.ok('work', 'push', 'origin', 'verse-two')).toMatch(/Pushed 1 commit\(s\).*origin\/verse-two/);
  const head = await headOf('verse-two');
  expect(head).toMatch(/^[0-9a-f]{64}$/);
  expect(await headOf('main')).not.toBe(head);
  await bob.ok('.', 'clone', remote, path.join(root, 'bob-branch'));
  await bob.ok('bob-branch', 'fetch', 'origin');
  await bob.ok('bob-branch', 'checkout', 'verse-two');
  await expectSameTree(path.join(root, 'bob-branch'), path.join(root, 'work'));
  await alice.ok('work', 'checkout', 'main');
});

test('a push that is not a fast-forward is refused with the client’s "diverged" message, nothing moves', async () => {
  // Alice's second machine: a clone of main, one commit, pushed first.
  await alice.ok('.', 'clone', remote, path.join(root, 'laptop'));
  await writeFiles(path.join(root, 'laptop'), { 'outro.txt': 'from the laptop' });
  await alice.ok('laptop', 'commit', '-m', 'outro on the laptop');
  await alice.ok('laptop', 'push', 'origin', 'main');
  const head = await headOf('main');

  await writeFiles(path.join(root, 'work'), { 'outro.txt': 'from the desktop' });
  await alice.ok('work', 'commit', '-m', 'outro on the desktop');
  const out = await alice.fails('work', 'push', 'origin', 'main');
  expect(out).toContain("❌ Push rejected — remote 'origin/main' has diverged.");
  expect(await headOf('main')).toBe(head);
  await alice.ok('work', 'pull', 'origin', 'main');
});

test('a deleted repo: push, pull and clone fail with the not-found answer; after restore all three work', async () => {
  const before = await headOf('main');
  expect((await gw.request('DELETE', `/api/v1/repos/${repoId}`, { token: aliceToken })).status).toBe(204);
  await writeFiles(path.join(root, 'work'), { 'after-delete.txt': 'never lands' });
  await alice.ok('work', 'commit', '-m', 'after the delete');

  const notFound = /HTTP 404: \{"detail":"repo not found","code":"repo_not_found"\}/;
  expect(await alice.fails('work', 'push', 'origin', 'main')).toMatch(notFound);
  expect(await bob.fails('bob-clone', 'pull', 'origin', 'main')).toMatch(notFound);
  const clone = await bob.fails('.', 'clone', remote, path.join(root, 'too-late'));
  expect(clone).toMatch(/404/);
  expect(clone).toContain('repo not found');
  // Exactly what a name that never existed gets.
  const never = await bob.fails('.', 'clone', `${gw.url}/alice/never-existed`, path.join(root, 'never'));
  expect(clone.replaceAll('neo-soul', 'X').replaceAll('too-late', 'Y')).toBe(
    never.replaceAll('never-existed', 'X').replaceAll('never', 'Y'),
  );

  expect((await gw.request('POST', `/api/v1/repos/${repoId}/restore`, { token: aliceToken })).status).toBe(200);
  expect(await headOf('main')).toBe(before);
  expect(await alice.ok('work', 'push', 'origin', 'main')).toMatch(/✅ Pushed/);
  await bob.ok('bob-clone', 'pull', 'origin', 'main');
  await expectSameTree(path.join(root, 'bob-clone'), path.join(root, 'work'));
  await bob.ok('.', 'clone', remote, path.join(root, 'restored-clone'));
  await expectSameTree(path.join(root, 'restored-clone'), path.join(root, 'work'));
  await gw.expectIntegrity();
});

test('a renamed repo: remotes at the old name keep pushing and pulling, and a clone works at either name', async () => {
  const renamed = await gw.request('PATCH', `/api/v1/repos/${repoId}`, {
    token: aliceToken,
    json: { name: 'neo soul live' },
  });
  expect(renamed.status).toBe(200);
  const newRemote = `${gw.url}/alice/${(await renamed.json()).slug}`;
  expect(newRemote).not.toBe(remote);
  // Alice's and Bob's remotes still say the old name: the client never follows a redirect.
  await writeFiles(path.join(root, 'work'), { 'after-rename.txt': 'pushed to the old name' });
  await alice.ok('work', 'commit', '-m', 'after the rename');
  expect(await alice.ok('work', 'push', 'origin', 'main')).toMatch(/✅ Pushed 1 commit\(s\)/);
  await bob.ok('bob-clone', 'pull', 'origin', 'main');
  await expectSameTree(path.join(root, 'bob-clone'), path.join(root, 'work'));
  await bob.ok('.', 'clone', newRemote, path.join(root, 'renamed-clone'));
  await expectSameTree(path.join(root, 'renamed-clone'), path.join(root, 'work'));
  // Back to its first name, so the tests after this one see the repo as they expect.
  const back = await gw.request('PATCH', `/api/v1/repos/${repoId}`, { token: aliceToken, json: { name: 'neo soul' } });
  expect(back.status).toBe(200);
  await gw.expectIntegrity();
});

test('a 70 MiB file is refused with the limit named, and the branch does not move', async () => {
  const head = await headOf('main');
  await writeFiles(path.join(root, 'work'), { 'stems.wav': randomBytes(70 * 1024 * 1024) });
  await alice.ok('work', 'commit', '-m', 'all the stems');
  const out = await alice.fails('work', 'push', 'origin', 'main');
  expect(out).toMatch(/413: object of 73400320 bytes is larger than this hub's limit of \d+ bytes \(63\.0 MiB\)/);
  expect(await headOf('main')).toBe(head);
  await gw.expectIntegrity();
});
