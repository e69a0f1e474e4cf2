import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushLikeMuse } from '../helpers/muse.ts';
import { runCli } from '../helpers/process.ts';
import { csrfOf, page, postForm } from '../helpers/web.ts';

let gw: TestGateway;
let env: Record<string, string>;
beforeAll(async () => {
  gw = await startTestGateway();
  // The gateway's own data directory: commands that open the object store (gc, fsck) see its bytes.
  env = { DATABASE_URL: gw.databaseUrl, MUSEHUB_URL: gw.url, MUSEHUB_DATA_DIR: gw.dataDir };
});
afterAll(() => gw?.close());
// Whatever a test did (deletes, restores, removals), the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

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

  // --json: the failure is also one JSON object on stdout; a 401 names the variable to set.
  const anon = await runCli(['repo', 'create', '--name', 'x', '--json'], env);
  expect(anon.code).toBe(1);
  expect(anon.stderr).toMatch(/set MUSEHUB_TOKEN to an API token .*musehub token create <username>.* \(HTTP 401\)/);
  expect(JSON.parse(anon.stdout)).toMatchObject({ error: { code: 'unauthorized', status: 401, exitCode: 1 } });
  const missingJson = await runCli(['repo', 'read', 'alice/nothing-here', '--json'], env);
  expect(JSON.parse(missingJson.stdout)).toEqual({
    error: { message: 'repo not found (HTTP 404)', code: 'repo_not_found', status: 404, exitCode: 1 },
  });

  // Bad input is refused before any request, naming what is allowed.
  const bogus = await runCli(['repo', 'create', '--name', 'x', '--visibility', 'bogus', '--json'], env);
  expect(bogus.code).toBe(1);
  expect(bogus.stderr).toContain("argument 'bogus' is invalid. Allowed choices are public, private.");
  expect(JSON.parse(bogus.stdout).error).toMatchObject({ code: 'commander.invalidArgument' });
});

test('--version; the gateway URL comes from MUSEHUB_URL, else MUSEHUB_PUBLIC_URL, else HOST/PORT, and failures name it', async () => {
  const version = await runCli(['--version'], {});
  expect(version.code).toBe(0);
  expect(version.stdout.trim()).toBe(
    JSON.parse(await import('node:fs').then((f) => f.readFileSync('package.json', 'utf8'))).version,
  );
  const port = new URL(gw.url).port;
  const noUrl = { ...env, MUSEHUB_URL: undefined };
  for (const where of [{ MUSEHUB_PUBLIC_URL: gw.url }, { HOST: '0.0.0.0', PORT: port }, { PORT: port }]) {
    const res = await runCli(['repo', 'read', 'alice/nothing-here'], { ...noUrl, ...where });
    expect(res.stderr, JSON.stringify(where)).toBe('musehub: repo not found (HTTP 404)\n');
  }
  const closed = await runCli(['repo', 'read', 'alice/x'], { ...noUrl, HOST: '127.0.0.1', PORT: '9' });
  expect(closed.code).toBe(1);
  expect(closed.stderr).toMatch(
    /cannot reach the gateway at http:\/\/127\.0\.0\.1:9, from HOST\/PORT .*set MUSEHUB_URL/,
  );
});

test('repo rename and edit; restore of a live repo exits non-zero', async () => {
  const { token } = JSON.parse((await runCli(['user', 'create', 'rena', '--json'], env)).stdout);
  const e = { ...env, MUSEHUB_TOKEN: token };
  expect((await runCli(['repo', 'create', '--name', 'First Name', '--visibility', 'public'], e)).code).toBe(0);
  const renamed = await runCli(['repo', 'rename', 'rena/first-name', 'Second Name'], e);
  expect(renamed.code).toBe(0);
  expect(renamed.stdout).toContain('renamed rena/first-name to rena/second-name');
  // The old name still leads to it (the CLI follows the REST redirect).
  expect(JSON.parse((await runCli(['repo', 'read', 'rena/first-name', '--json'], e)).stdout).slug).toBe('second-name');
  const edited = await runCli(
    ['repo', 'edit', 'rena/second-name', '--visibility', 'private', '--description', 'd', '--json'],
    e,
  );
  expect(edited.code).toBe(0);
  expect(JSON.parse(edited.stdout)).toMatchObject({ visibility: 'private', description: 'd' });
  expect((await runCli(['repo', 'read', 'rena/second-name'], env)).code).toBe(1); // anonymous: private now
  const nothing = await runCli(['repo', 'edit', 'rena/second-name'], e);
  expect([nothing.code, nothing.stderr]).toEqual([
    2,
    'musehub: nothing to change: give --description or --visibility\n',
  ]);
  const live = await runCli(['repo', 'restore', 'rena/second-name'], e);
  expect(live.code).toBe(1);
  expect(live.stderr).toBe("musehub: 'rena/second-name' is not deleted: there is nothing to restore (HTTP 409)\n");
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
  expect(refused.stderr).toBe(
    'musehub: invalid or revoked token; MUSEHUB_TOKEN is set but the gateway refused it (revoked, or from another hub?) (HTTP 401)\n',
  );
});

test('token create --web prints a one-time sign-in link instead of the token', async () => {
  await runCli(['user', 'create', 'wendy'], env);
  const e = { ...env, MUSEHUB_PUBLIC_URL: gw.url };
  const made = JSON.parse((await runCli(['token', 'create', 'wendy', '--web', '--json'], e)).stdout);
  expect(made).toEqual({
    tokenId: expect.any(String),
    username: 'wendy',
    signInUrl: expect.stringMatching(new RegExp(`^${gw.url}/login/link/[A-Za-z0-9_-]{43}$`)),
    expiresAt: expect.any(String),
  });
  const path = new URL(made.signInUrl).pathname;
  const confirm = await page(gw, path);
  expect(confirm.text).toContain('Sign in as wendy');
  const signed = await postForm(gw, path, { csrf: csrfOf(confirm.text) }, confirm.setCookies[0]!.split(';')[0]);
  expect(signed.status).toBe(303);
  const session = signed.setCookies.find((c) => c.startsWith('musehub_session='))!.split(';')[0];
  expect((await page(gw, '/settings/deleted-repos', session)).status).toBe(200);
  // The printed advice works: revoking the token signs the browser out.
  expect((await runCli(['token', 'revoke', made.tokenId], env)).code).toBe(0);
  expect((await page(gw, '/settings/deleted-repos', session)).status).toBe(303);
  const text = await runCli(['token', 'create', 'wendy', '--web'], e);
  expect(text.stdout).toMatch(/^open this link to sign in as wendy \(once, before .*\):\nhttp.*\/login\/link\//);
  expect(text.stdout).not.toContain('mh_');
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
  expect(bad.stderr).toMatch(/not a valid branch name \(it must not contain '\.\.'\) \(HTTP 400\)/);
});

test('repo delete end to end: read is 404, the rows are kept and tombstoned, deleting again succeeds, restore brings it back', async () => {
  const user = JSON.parse((await runCli(['user', 'create', 'dana', '--json'], env)).stdout);
  const e = { ...env, MUSEHUB_TOKEN: user.token };
  const repo = JSON.parse((await runCli(['repo', 'create', '--name', 'Doomed', '--json'], e)).stdout);
  await runCli(['issue', 'create', 'dana/doomed', '--title', 'an issue'], e);
  await runCli(['proposal', 'create', 'dana/doomed', '--title', 'a proposal', '--from', 'dev'], e);
  const api = (p: string, json: unknown) =>
    gw.request('POST', `/api/v1/repos/${repo.repoId}${p}`, { token: user.token, json });
  await api('/issues/1/comments', { body: 'issue comment' });
  await api('/proposals/1/comments', { body: 'proposal comment' });
  // Bytes only this repo names: gc removes them once it is purged.
  const { snapshot, objects } = makeSnapshot({ 'doomed.txt': `only here ${Date.now()}` });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
  const bundle = { commits: [commit], snapshots: [snapshot], objects };
  expect((await pushLikeMuse(gw, '/dana/doomed', user.token, bundle)).status).toBe(200);

  // Not on a terminal and no --yes: refused, nothing deleted (gh repo delete's convention).
  const unconfirmed = await runCli(['repo', 'delete', 'dana/doomed'], e);
  expect(unconfirmed.code).toBe(2);
  expect(unconfirmed.stderr).toBe(
    'musehub: refusing to delete dana/doomed without confirmation: not on a terminal; pass --yes\n',
  );
  expect((await runCli(['repo', 'read', 'dana/doomed'], e)).code).toBe(0);

  const deleted = await runCli(['repo', 'delete', 'dana/doomed', '--yes', '--json'], e);
  expect(deleted.code).toBe(0);
  expect(JSON.parse(deleted.stdout)).toEqual({ repoId: repo.repoId, deleted: true });

  const read = await runCli(['repo', 'read', 'dana/doomed'], e);
  expect(read.code).toBe(1);
  expect(read.stderr).toBe('musehub: repo not found (HTTP 404)\n');

  const [row] = await sql(gw.databaseUrl, 'SELECT deleted_at, deletion_id FROM musehub_repos WHERE repo_id = $1', [
    repo.repoId,
  ]);
  expect(row!.deleted_at).toBeInstanceOf(Date);
  const tomb = await sql(
    gw.databaseUrl,
    `SELECT (SELECT count(*) FROM musehub_issues WHERE repo_id = $1 AND deleted_at IS NOT NULL AND deletion_id = $2)::int AS issues,
            (SELECT count(*) FROM musehub_issue_comments WHERE repo_id = $1 AND is_deleted AND deletion_id = $2)::int AS issue_comments,
            (SELECT count(*) FROM musehub_proposals WHERE repo_id = $1 AND deleted_at IS NOT NULL AND deletion_id = $2)::int AS proposals,
            (SELECT count(*) FROM musehub_proposal_comments WHERE repo_id = $1 AND is_deleted AND deletion_id = $2)::int AS proposal_comments`,
    [repo.repoId, row!.deletion_id],
  );
  expect(tomb).toEqual([{ issues: 1, issue_comments: 1, proposals: 1, proposal_comments: 1 }]);

  // Deleting again succeeds (by id: the name no longer resolves).
  expect((await runCli(['repo', 'delete', repo.repoId, '--yes'], e)).code).toBe(0);
  // The owner lists it, with what a restore brings back, and restores it by name.
  const listed = await runCli(['repo', 'list', '--deleted', '--json'], e);
  expect(listed.code).toBe(0);
  expect(JSON.parse(listed.stdout).repos).toEqual([
    expect.objectContaining({
      repoId: repo.repoId,
      owner: 'dana',
      slug: 'doomed',
      deletedBy: 'dana',
      nameFree: true,
      tombstoned: expect.objectContaining({ issues: 1, issueComments: 1, proposals: 1, proposalComments: 1 }),
    }),
  ]);
  const restored = await runCli(['repo', 'restore', 'dana/doomed', '--json'], e);
  expect(restored.code).toBe(0);
  expect(JSON.parse(restored.stdout).slug).toBe('doomed');
  expect(JSON.parse((await runCli(['repo', 'list', '--deleted', '--json'], e)).stdout).repos).toEqual([]);
  expect((await runCli(['repo', 'read', 'dana/doomed'], e)).code).toBe(0);

  // Purge (issue 25): refused for a live repo, without --yes off a terminal; the operator's
  // dry run lists it and changes nothing; the owner's purge removes it for good.
  const live = await runCli(['repo', 'purge', 'dana/doomed', '--yes'], e);
  expect(live.code).toBe(1);
  expect(live.stderr).toContain('is not deleted');
  expect((await runCli(['repo', 'delete', 'dana/doomed', '--yes'], e)).code).toBe(0);
  const unconfirmedPurge = await runCli(['repo', 'purge', 'dana/doomed'], e);
  expect(unconfirmedPurge.code).toBe(2);
  expect(unconfirmedPurge.stderr).toContain('refusing to purge dana/doomed without confirmation');
  const dry = await runCli(['purge', '--older-than', '0s', '--dry-run', '--json'], env);
  expect(dry.code).toBe(0);
  expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, purged: [{ repoId: repo.repoId }] });
  expect((await runCli(['repo', 'list', '--deleted', '--json'], e)).stdout).toContain(repo.repoId);
  const purged = await runCli(['repo', 'purge', 'dana/doomed', '--yes', '--json'], e);
  expect(purged.code).toBe(0);
  expect(JSON.parse(purged.stdout).purged).toEqual([expect.objectContaining({ repoId: repo.repoId })]);
  expect(JSON.parse((await runCli(['repo', 'list', '--deleted', '--json'], e)).stdout).repos).toEqual([]);
  expect((await runCli(['repo', 'restore', repo.repoId], e)).code).toBe(1);

  // gc: a dry run reports and removes nothing; a run at grace 0 removes the purged repo's bytes;
  // a malformed grace is refused before anything runs.
  const badGrace = await runCli(['gc', '--grace', 'soon'], env);
  expect(badGrace.code).toBe(1);
  expect(badGrace.stderr).toContain("--grace: expected a number and a unit (s, m, h, d) such as 24h, got 'soon'");
  const dryGc = await runCli(['gc', '--dry-run', '--grace', '0s', '--json'], env);
  expect(dryGc.code).toBe(0);
  const wouldGo = JSON.parse(dryGc.stdout);
  expect(wouldGo).toMatchObject({ dryRun: true, graceSeconds: 0, removed: { objects: expect.any(Number) } });
  expect(wouldGo.removed.objects).toBeGreaterThan(0);
  expect(await gw.store.has(objects[0]!.object_id)).toBe(true);
  const realGc = await runCli(['gc', '--grace', '0s', '--json'], env);
  expect(realGc.code).toBe(0);
  expect(JSON.parse(realGc.stdout)).toMatchObject({ dryRun: false, removed: wouldGo.removed });
  expect(await gw.store.has(objects[0]!.object_id)).toBe(false);
  const again = await runCli(['gc', '--grace', '0s'], env);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('removed 0 object(s), 0.0 MiB');
});
