import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRepo, type RepoBody } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll } from '../helpers/muse.ts';
import { postForm, signIn } from '../helpers/web.ts';

/**
 * Regression (issue 23, item 4): a NUL character in any text field was a 500 (PostgreSQL refuses
 * it in `text`), with the user's text in the logged SQL. Now it is a 400 naming the field on
 * every surface, and nothing changes.
 */
let gw: TestGateway;
let alice: { username: string; token: string };
let repo: RepoBody;
let issueNumber: number;
beforeAll(async () => {
  gw = await startTestGateway();
  alice = await gw.user('alice');
  repo = await createRepo(gw, alice.token, { name: 'text', visibility: 'public' });
  const s = makeSnapshot({ 'a.txt': 'a' });
  await pushAll(gw, `/alice/${repo.slug}`, alice.token, {
    commits: [makeCommit({ snapshotId: s.snapshot.snapshot_id })],
    snapshots: [s.snapshot],
    objects: s.objects,
  });
  const issue = await gw.request('POST', `/api/v1/repos/${repo.repoId}/issues`, {
    token: alice.token,
    json: { title: 'fine' },
  });
  issueNumber = (await issue.json()).number;
});
afterAll(() => gw?.close());

const NUL = 'a\u0000b';

test.each([
  ['POST', '/api/v1/repos', { name: NUL }, 'name'],
  ['POST', '/api/v1/repos', { name: 'ok name', description: NUL }, 'description'],
  ['POST', '/api/v1/repos/{repo}/issues', { title: NUL }, 'title'],
  ['POST', '/api/v1/repos/{repo}/issues', { title: 'ok', body: NUL }, 'body'],
  ['PATCH', '/api/v1/repos/{repo}/issues/{issue}', { body: NUL }, 'body'],
  ['POST', '/api/v1/repos/{repo}/issues/{issue}/comments', { body: NUL }, 'body'],
  ['POST', '/api/v1/repos/{repo}/proposals', { title: NUL, fromBranch: 'main', toBranch: 'main' }, 'title'],
  [
    'POST',
    '/api/v1/repos/{repo}/webhooks',
    { url: 'https://8.8.8.8/', events: ['push'], secret: NUL, active: false },
    'secret',
  ],
  ['POST', '/api/v1/repos/{repo}/issues', { title: 'ok', labels: ['x', NUL] }, 'labels[1]'],
])('REST %s %s with NUL in %o is a 400 naming the field', async (method, route, json, field) => {
  const before = await gw.fingerprint();
  const p = route.replace('{repo}', repo.repoId).replace('{issue}', String(issueNumber));
  const res = await gw.request(method, p, { token: alice.token, json });
  expect(res.status).toBe(400);
  expect(await res.json()).toEqual({
    detail: `${field}: text must not contain the NUL character (U+0000)`,
    code: 'invalid_request',
  });
  expect(await gw.fingerprint()).toBe(before);
});

test('wire: a push whose commit message or author holds NUL is a 400 naming the field', async () => {
  const before = await gw.fingerprint();
  const s = makeSnapshot({ 'b.txt': 'b' });
  for (const [extra, field] of [
    [{ message: NUL }, 'bundle.commits[0].message'],
    [{ extra: { author: NUL } }, 'bundle.commits[0].author'],
  ] as const) {
    const res = await pushAll(gw, `/alice/${repo.slug}`, alice.token, {
      commits: [makeCommit({ snapshotId: s.snapshot.snapshot_id, ...extra })],
      snapshots: [s.snapshot],
      objects: [],
    });
    expect(res.status).toBe(400);
    expect(res.body.detail).toBe(`${field}: text must not contain the NUL character (U+0000)`);
  }
  expect(await gw.fingerprint()).toBe(before);
});

test('MCP: a tool call with NUL in an argument is refused, nothing created', async () => {
  const before = await gw.fingerprint();
  const client = new Client({ name: 'nul-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${alice.token}` } },
    }),
  );
  try {
    await expect(
      client.callTool({ name: 'musehub_create_issue', arguments: { owner: 'alice', slug: repo.slug, title: NUL } }),
    ).rejects.toThrow(/params\.arguments\.title: text must not contain the NUL character/);
  } finally {
    await client.close();
  }
  expect(await gw.fingerprint()).toBe(before);
});

test('pages: a form field holding NUL is a 400 page naming it', async () => {
  const session = await signIn(gw, alice.token);
  const before = await gw.fingerprint();
  const res = await postForm(
    gw,
    `/alice/${repo.slug}/settings/delete`,
    { csrf: session.csrf, confirm: `alice/${repo.slug}\u0000` },
    session.cookie,
  );
  expect(res.status).toBe(400);
  expect(res.text).toContain('confirm: text must not contain the NUL character (U+0000)');
  expect(await gw.fingerprint()).toBe(before);
});

// Regression (issue 23, item 4): other C0 controls were accepted in one-line fields, where a
// newline forges a second line in a list and an escape sequence repaints a terminal.
const ESC = 'Release \u001b[2J';
test.each([
  ['POST', '/api/v1/repos', { name: 'two\nlines' }, 'json name'],
  ['POST', '/api/v1/repos/{repo}/issues', { title: ESC }, 'json title'],
  ['PATCH', '/api/v1/repos/{repo}/issues/{issue}', { title: 'a\tb' }, 'json title'],
  ['POST', '/api/v1/repos/{repo}/issues', { title: 'ok', labels: ['b\rug'] }, 'json labels.0'],
  ['POST', '/api/v1/repos/{repo}/proposals', { title: 'a\u007fb', fromBranch: 'main', toBranch: 'main' }, 'json title'],
  ['POST', '/api/v1/repos/{repo}/forks', { name: 'x\u0007y' }, 'json name'],
])('REST %s %s with a control character in %o is a 400 naming the field', async (method, route, json, field) => {
  const before = await gw.fingerprint();
  const p = route.replace('{repo}', repo.repoId).replace('{issue}', String(issueNumber));
  const res = await gw.request(method, p, { token: alice.token, json });
  expect(res.status).toBe(400);
  expect(await res.json()).toEqual({
    detail: `${field}: must not contain control characters (U+0000–U+001F, U+007F)`,
    code: 'invalid_request',
  });
  expect(await gw.fingerprint()).toBe(before);
});

test('control characters: wire author and MCP titles refused, free text keeps tab and newline', async () => {
  const before = await gw.fingerprint();
  const s = makeSnapshot({ 'd.txt': 'd' });
  const push = await pushAll(gw, `/alice/${repo.slug}`, alice.token, {
    commits: [makeCommit({ snapshotId: s.snapshot.snapshot_id, extra: { author: 'Eve\nSigned-off-by: alice' } })],
    snapshots: [s.snapshot],
    objects: [],
  });
  expect(push.status).toBe(400);
  expect(push.body.detail).toBe('bundle.commits.0.author: must not contain control characters (U+0000–U+001F, U+007F)');
  const client = new Client({ name: 'control-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${alice.token}` } },
    }),
  );
  try {
    const tool = await client.callTool({
      name: 'musehub_create_issue',
      arguments: { owner: 'alice', slug: repo.slug, title: ESC },
    });
    expect(tool.isError).toBe(true);
    expect(JSON.stringify(tool.content)).toMatch(/must not contain control characters .* at title/);
  } finally {
    await client.close();
  }
  expect(await gw.fingerprint()).toBe(before);
  const prose = await gw.request('POST', `/api/v1/repos/${repo.repoId}/issues`, {
    token: alice.token,
    json: { title: 'Tabs and lines', body: 'col1\tcol2\nnext line' },
  });
  expect(prose.status).toBe(201);
  expect((await prose.json()).body).toBe('col1\tcol2\nnext line');
});

// Regression (issue 23, item 9): U+202E and the other bidirectional controls were accepted in
// names, where they make one name display as another.
test('bidi controls are refused in repo, branch and file names, and kept in free text', async () => {
  const rowCount = async () =>
    (
      await sql<{ n: string }>(
        gw.databaseUrl,
        `SELECT (SELECT count(*) FROM musehub_repos) + (SELECT count(*) FROM musehub_branches) + (SELECT count(*) FROM musehub_commits) + (SELECT count(*) FROM musehub_snapshots) AS n`,
      )
    )[0]!.n;
  const rowsBefore = await rowCount();
  const rlo = '\u202e';
  const named = await gw.request('POST', '/api/v1/repos', { token: alice.token, json: { name: `song${rlo}dim.evil` } });
  expect(named.status).toBe(400);
  expect((await named.json()).code).toBe('invalid_name');
  const s = makeSnapshot({ 'c.txt': 'c' });
  const branch = await pushAll(
    gw,
    `/alice/${repo.slug}`,
    alice.token,
    {
      commits: [makeCommit({ snapshotId: s.snapshot.snapshot_id, branch: `fix${rlo}` })],
      snapshots: [s.snapshot],
      objects: s.objects,
    },
    { branch: `fix${rlo}` },
  );
  expect(branch.status).toBe(400);
  expect(branch.body.detail).toMatch(/bidirectional control characters/);
  const f = makeSnapshot({ [`song${rlo}dim.mid`]: 'x' });
  const file = await pushAll(gw, `/alice/${repo.slug}`, alice.token, {
    commits: [makeCommit({ snapshotId: f.snapshot.snapshot_id })],
    snapshots: [f.snapshot],
    objects: f.objects,
  });
  expect(file.status).toBe(400);
  expect(file.body.detail).toMatch(/manifest\.song.dim\.mid: .*bidirectional control characters/);
  // The pushes' objects were uploaded before the push named them (as every push does); no
  // repo, branch, commit or snapshot came of any of it.
  expect(await rowCount()).toBe(rowsBefore);
  const prose = await gw.request('POST', `/api/v1/repos/${repo.repoId}/issues`, {
    token: alice.token,
    json: { title: `Arabic and English: ${rlo}mixed\u202c text` },
  });
  expect(prose.status).toBe(201);
});
