import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { runCli } from '../helpers/process.ts';

let gw: TestGateway;
let env: Record<string, string>;
beforeAll(async () => {
  gw = await startTestGateway();
  env = { DATABASE_URL: gw.databaseUrl, MUSEHUB_URL: gw.url };
});
afterAll(() => gw?.close());

test('user create → repo create → repo read, as the issue describes', async () => {
  const user = await runCli(['user', 'create', 'alice', '--json'], env);
  expect(user.code).toBe(0);
  const { token, username } = JSON.parse(user.stdout);
  expect(username).toBe('alice');
  expect(token).toMatch(/^mh_/);

  const created = await runCli(['repo', 'create', '--name', 'Neo Soul', '--json'], { ...env, MUSEHUB_TOKEN: token });
  expect(created.code).toBe(0);
  const repo = JSON.parse(created.stdout);
  expect(repo).toMatchObject({ slug: 'neo-soul', owner: 'alice', visibility: 'private' });

  const read = await runCli(['repo', 'read', 'alice/neo-soul', '--json'], { ...env, MUSEHUB_TOKEN: token });
  expect(read.code).toBe(0);
  expect(JSON.parse(read.stdout)).toEqual(repo);

  const byId = await runCli(['repo', 'read', repo.repoId], { ...env, MUSEHUB_TOKEN: token });
  expect(byId.code).toBe(0);
  expect(byId.stdout).toContain('alice/neo-soul');

  const list = await runCli(['repo', 'list', '--json'], { ...env, MUSEHUB_TOKEN: token });
  expect(JSON.parse(list.stdout).repos.map((r: { slug: string }) => r.slug)).toEqual(['neo-soul']);
});

test('failures exit non-zero with the server detail on stderr', async () => {
  const missing = await runCli(['repo', 'read', 'alice/nothing-here'], env);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toBe('musehub: repo not found (HTTP 404)\n');
  expect(missing.stdout).toBe('');

  const anon = await runCli(['repo', 'create', '--name', 'x', '--json'], env);
  expect(anon.code).toBe(1);
  expect(anon.stderr).toMatch(/HTTP 401/);
});

test('token create and revoke act on the database directly', async () => {
  await runCli(['user', 'create', 'bob'], env);
  const made = JSON.parse((await runCli(['token', 'create', 'bob', '--name', 'laptop', '--json'], env)).stdout);
  expect(made).toMatchObject({ username: 'bob', token: expect.stringMatching(/^mh_/) });
  const ok = await runCli(['repo', 'list'], { ...env, MUSEHUB_TOKEN: made.token });
  expect(ok.code).toBe(0);

  const revoked = await runCli(['token', 'revoke', made.tokenId, '--json'], env);
  expect(revoked.code).toBe(0);
  const refused = await runCli(['repo', 'list'], { ...env, MUSEHUB_TOKEN: made.token });
  expect(refused.code).toBe(1);
  expect(refused.stderr).toBe('musehub: invalid or revoked token (HTTP 401)\n');
});

test('issue and proposal create/list by owner/slug', async () => {
  const user = JSON.parse((await runCli(['user', 'create', 'ivy', '--json'], env)).stdout);
  const e = { ...env, MUSEHUB_TOKEN: user.token };
  expect((await runCli(['repo', 'create', '--name', 'Songbook'], e)).code).toBe(0);
  const issue = await runCli(['issue', 'create', 'ivy/songbook', '--title', 'Fix the bridge', '--json'], e);
  expect(issue.code).toBe(0);
  expect(JSON.parse(issue.stdout)).toMatchObject({ number: 1, title: 'Fix the bridge', author: 'ivy' });
  const issues = await runCli(['issue', 'list', 'ivy/songbook'], e);
  expect(issues.stdout).toContain('#1  open    Fix the bridge  (ivy)');

  const proposal = await runCli(
    ['proposal', 'create', 'ivy/songbook', '--title', 'Bridge v2', '--from', 'bridge', '--json'],
    e,
  );
  expect(JSON.parse(proposal.stdout)).toMatchObject({ number: 1, fromBranch: 'bridge', toBranch: 'main' });
  const list = JSON.parse((await runCli(['proposal', 'list', 'ivy/songbook', '--json'], e)).stdout);
  expect(list.proposals.map((p: { title: string }) => p.title)).toEqual(['Bridge v2']);

  const bad = await runCli(['proposal', 'create', 'ivy/songbook', '--title', 'x', '--from', 'a..b'], e);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/not a valid branch name \(HTTP 400\)/);
});
