import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { revokeToken } from '../../src/users/index.ts';
import { addCollaborator, createPushedRepo, createRepo, type RepoBody } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { eventually } from '../helpers/process.ts';

/**
 * The MCP server at /mcp, driven by the SDK's own Client over Streamable HTTP against a real
 * gateway: every tool is called with a valid and a refused call, and a sweep generated from
 * tools/list checks that a deleted, a private (to a stranger) and a never-existing repo are the
 * same tool error for every tool that names a repo, and that those calls write nothing.
 */
type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let alice: U;
let bob: U;
let carol: U;
const clients: Client[] = [];

async function connect(token?: string): Promise<Client> {
  const client = new Client({ name: 'musehub-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), {
    requestInit: token ? { headers: { authorization: `Bearer ${token}` } } : {},
  });
  await client.connect(transport);
  clients.push(client);
  return client;
}

beforeAll(async () => {
  gw = await startTestGateway();
  alice = await gw.user('alice');
  bob = await gw.user('bob');
  carol = await gw.user('carol');
});
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await gw?.close();
});
afterEach(() => gw.expectIntegrity());

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: unknown };
const call = async (client: Client, name: string, args: Record<string, unknown>) =>
  (await client.callTool({ name, arguments: args })) as ToolResult;
const text = (r: ToolResult) => r.content.map((c) => c.text ?? '').join('');

test('initialize and list tools: MuseHub names, read tools marked read-only, delete marked destructive and idempotent', async () => {
  const client = await connect(alice.token);
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  expect(names).toEqual(
    [
      'musehub_create_issue',
      'musehub_create_issue_comment',
      'musehub_create_pr',
      'musehub_create_pr_comment',
      'musehub_create_repo',
      'musehub_delete_repo',
      'musehub_fork_repo',
      'musehub_get_commit',
      'musehub_get_context',
      'musehub_get_issue',
      'musehub_get_pr',
      'musehub_list_branches',
      'musehub_list_commits',
      'musehub_list_issues',
      'musehub_list_prs',
      'musehub_merge_pr',
      'musehub_purge_repo',
      'musehub_restore_repo',
      'musehub_search_repos',
      'musehub_read_file',
      'musehub_update_issue',
      'musehub_update_repo',
      'musehub_whoami',
    ].sort(),
  );
  for (const t of tools) {
    expect(t.outputSchema, t.name).toBeDefined();
    const readOnly = /^musehub_(get|list|search|whoami|read)/.test(t.name);
    expect(t.annotations?.readOnlyHint, t.name).toBe(readOnly);
  }
  const del = tools.find((t) => t.name === 'musehub_delete_repo')!;
  expect(del.annotations).toMatchObject({ destructiveHint: true, idempotentHint: true });
});

test('every tool: a valid call answers structured content and text; a refused call is a tool error', async () => {
  const client = await connect(alice.token);
  const anon = await connect();
  expect((await call(anon, 'musehub_whoami', {})).structuredContent).toEqual({ username: null, anonymous: true });
  expect((await call(client, 'musehub_whoami', {})).structuredContent).toEqual({ username: 'alice', anonymous: false });

  const created = await call(client, 'musehub_create_repo', { name: 'Agent Songs', visibility: 'public' });
  expect(created.isError).toBeFalsy();
  const repo = (created.structuredContent as { repo: { repoId: string; owner: string; slug: string } }).repo;
  expect(repo).toMatchObject({ owner: 'alice', slug: 'agent-songs' });
  expect((await call(anon, 'musehub_create_repo', { name: 'nope' })).isError).toBe(true);
  const ref = { owner: 'alice', slug: 'agent-songs' };

  const ctx = await call(anon, 'musehub_get_context', ref);
  expect(ctx.structuredContent).toMatchObject({ repo: { repoId: repo.repoId }, openIssues: 0, openProposals: 0 });
  expect((await call(anon, 'musehub_list_branches', { repo_id: repo.repoId })).structuredContent).toEqual({
    branches: [],
  });

  const issue = await call(client, 'musehub_create_issue', { ...ref, title: 'Bridge too long', body: 'cut 4 bars' });
  expect(issue.structuredContent).toMatchObject({ issue: { number: 1, title: 'Bridge too long', state: 'open' } });
  expect((await call(anon, 'musehub_get_context', ref)).structuredContent).toMatchObject({ openIssues: 1 });
  expect((await call(anon, 'musehub_create_issue', { ...ref, title: 'anonymous' })).isError).toBe(true);
  expect((await call(client, 'musehub_create_issue', { ...ref, title: '' })).isError).toBe(true);
  expect((await call(anon, 'musehub_list_issues', ref)).structuredContent).toMatchObject({ issues: [{ number: 1 }] });
  expect((await call(anon, 'musehub_get_issue', { ...ref, number: 1 })).structuredContent).toMatchObject({
    issue: { title: 'Bridge too long' },
  });
  expect(text(await call(anon, 'musehub_get_issue', { ...ref, number: 9 }))).toBe('issue #9 not found');
  expect(
    (await call(client, 'musehub_update_issue', { ...ref, number: 1, state: 'closed' })).structuredContent,
  ).toMatchObject({ issue: { state: 'closed' } });
  expect(
    (await call(await connect(bob.token), 'musehub_update_issue', { ...ref, number: 1, title: 'x' })).isError,
  ).toBe(true);
  expect((await call(client, 'musehub_create_issue_comment', { ...ref, number: 1, body: 'done' })).isError).toBeFalsy();
  expect((await call(client, 'musehub_create_issue_comment', { ...ref, number: 1, body: '' })).isError).toBe(true);

  const pr = await call(client, 'musehub_create_pr', { ...ref, title: 'New chorus', fromBranch: 'chorus' });
  expect(pr.structuredContent).toMatchObject({ pr: { number: 1, fromBranch: 'chorus', toBranch: 'main' } });
  expect((await call(client, 'musehub_create_pr', { ...ref, title: 'x', fromBranch: '../etc' })).isError).toBe(true);
  expect((await call(anon, 'musehub_list_prs', ref)).structuredContent).toMatchObject({ prs: [{ number: 1 }] });
  expect((await call(anon, 'musehub_get_pr', { ...ref, number: 1 })).structuredContent).toMatchObject({
    pr: { title: 'New chorus' },
  });
  expect((await call(anon, 'musehub_get_pr', { ...ref, number: 5 })).isError).toBe(true);
  expect((await call(client, 'musehub_create_pr_comment', { ...ref, number: 1, body: 'nice' })).isError).toBeFalsy();
  expect((await call(anon, 'musehub_create_pr_comment', { ...ref, number: 1, body: 'nice' })).isError).toBe(true);
  expect(text(await call(await connect(bob.token), 'musehub_merge_pr', { ...ref, number: 1 }))).toMatch(/write/);
  expect((await call(client, 'musehub_merge_pr', { ...ref, number: 1 })).structuredContent).toMatchObject({
    pr: { number: 1, state: 'merged' },
  });

  // History: a repo with commits pushed through the wire protocol.
  const pushed = await createPushedRepo(gw, alice.token, 'agent history');
  const href = { owner: 'alice', slug: pushed.repo.slug };
  const log = await call(anon, 'musehub_list_commits', href);
  expect(log.structuredContent).toMatchObject({ commits: [{ commit_id: pushed.head }] });
  expect(text(await call(anon, 'musehub_list_commits', { ...href, branch: 'nope' }))).toBe("branch 'nope' not found");
  const commit = await call(anon, 'musehub_get_commit', { ...href, commit_id: pushed.head });
  expect(commit.structuredContent).toMatchObject({
    commit: { commit_id: pushed.head },
    files: { 'a.txt': expect.any(String) },
  });
  expect(text(await call(anon, 'musehub_get_commit', { ...href, commit_id: 'b'.repeat(64) }))).toBe(
    `commit ${'b'.repeat(64)} not found`,
  );
  expect((await call(anon, 'musehub_read_file', { ...href, path: 'a.txt' })).structuredContent).toMatchObject({
    encoding: 'utf-8',
    content: 'base',
    size: 4,
  });
  expect(text(await call(anon, 'musehub_read_file', { ...href, path: 'missing.txt' }))).toBe(
    "no file 'missing.txt' in that commit",
  );

  const search = await call(anon, 'musehub_search_repos', { query: 'agent' });
  expect((search.structuredContent as { repos: { slug: string }[] }).repos.map((r) => r.slug)).toEqual([
    'agent-history',
    'agent-songs',
  ]);
  expect((await call(anon, 'musehub_search_repos', { limit: 0 })).isError).toBe(true);

  const bobClient = await connect(bob.token);
  const fork = await call(bobClient, 'musehub_fork_repo', ref);
  expect(fork.structuredContent).toMatchObject({ repo: { owner: 'bob', slug: 'agent-songs' } });
  expect((await call(bobClient, 'musehub_fork_repo', ref)).isError).toBe(true); // already has one by that name

  // Delete: typed confirmation, owner only, idempotent; restore brings it and its issues back.
  expect(text(await call(client, 'musehub_delete_repo', { ...ref, confirm: 'alice/wrong' }))).toBe(
    'to delete, pass confirm: "alice/agent-songs"',
  );
  expect((await call(bobClient, 'musehub_delete_repo', { ...ref, confirm: 'alice/agent-songs' })).isError).toBe(true);
  const deleted = await call(client, 'musehub_delete_repo', { ...ref, confirm: 'alice/agent-songs' });
  expect(deleted.structuredContent).toEqual({ repoId: repo.repoId, deleted: true, alreadyDeleted: false });
  const again = await call(client, 'musehub_delete_repo', { ...ref, confirm: 'alice/agent-songs' });
  expect(again.structuredContent).toEqual({ repoId: repo.repoId, deleted: true, alreadyDeleted: true });
  expect(text(await call(anon, 'musehub_get_context', ref))).toBe('repo not found');
  expect((await call(bobClient, 'musehub_restore_repo', ref)).isError).toBe(true);
  expect((await call(client, 'musehub_restore_repo', ref)).structuredContent).toMatchObject({
    repo: { repoId: repo.repoId },
  });
  const notDeleted = await call(client, 'musehub_restore_repo', ref);
  expect(notDeleted.isError).toBe(true);
  expect(text(notDeleted)).toBe("'alice/agent-songs' is not deleted: there is nothing to restore");

  // Update (issue 27): a reader may not; the owner renames, the old name still leads to it.
  expect((await call(bobClient, 'musehub_update_repo', { ...ref, description: 'x' })).isError).toBe(true);
  const renamed = await call(client, 'musehub_update_repo', { ...ref, name: 'Agent Songs Two', description: 'd' });
  expect(renamed.structuredContent).toMatchObject({ repo: { slug: 'agent-songs-two', description: 'd' } });
  expect(
    (await call(anon, 'musehub_get_context', { owner: 'alice', slug: 'agent-songs' })).structuredContent,
  ).toMatchObject({ repo: { repoId: repo.repoId, slug: 'agent-songs-two' } });
  expect((await call(client, 'musehub_update_repo', { ...ref, name: 'Agent Songs' })).structuredContent).toMatchObject({
    repo: { slug: 'agent-songs' },
  });
  expect((await call(anon, 'musehub_list_issues', { ...ref, state: 'all' })).structuredContent).toMatchObject({
    issues: [{ number: 1 }],
  });

  // Purge: only a deleted repo, with the typed name; then it is gone for good.
  const live = await call(client, 'musehub_purge_repo', { ...ref, confirm: 'alice/agent-songs' });
  expect(live.isError).toBe(true);
  expect(text(live)).toContain('is not deleted');
  await call(client, 'musehub_delete_repo', { ...ref, confirm: 'alice/agent-songs' });
  expect(text(await call(client, 'musehub_purge_repo', { ...ref, confirm: 'alice/wrong' }))).toBe(
    'to purge, pass confirm: "alice/agent-songs"',
  );
  expect(text(await call(bobClient, 'musehub_purge_repo', { ...ref, confirm: 'alice/agent-songs' }))).toBe(
    'repo not found',
  );
  const purged = await call(client, 'musehub_purge_repo', { ...ref, confirm: 'alice/agent-songs' });
  expect(purged.structuredContent).toMatchObject({ purged: [{ repoId: repo.repoId, owner: 'alice' }] });
  expect(text(await call(client, 'musehub_restore_repo', ref))).toBe('repo not found');
});

test('generated from tools/list: a deleted repo, a private repo to a stranger and a repo that never existed are the same tool error, and write nothing', async () => {
  const priv = await createRepo(gw, alice.token, { name: 'sweep private' });
  const gone = (await createPushedRepo(gw, alice.token, 'sweep deleted')).repo;
  await addCollaborator(gw, alice.token, gone.repoId, 'carol', 'write');
  expect((await gw.request('DELETE', `/api/v1/repos/${gone.repoId}`, { token: alice.token })).status).toBe(204);
  const stranger = await connect(bob.token);
  const collaborator = await connect(carol.token);
  const { tools } = await stranger.listTools();
  const naming = tools.filter((t) => 'repo_id' in ((t.inputSchema as { properties?: object }).properties ?? {}));
  expect(naming.length).toBeGreaterThanOrEqual(18);

  const argsFor = (name: string, ref: object): Record<string, unknown> => ({
    ...ref,
    number: 1,
    title: 'x',
    body: 'x',
    fromBranch: 'dev',
    confirm: 'x/y',
    commit_id: 'a'.repeat(64),
    path: 'a.txt',
    ...(name === 'musehub_update_issue' ? { state: 'closed' } : {}),
  });
  const refs = (repo: RepoBody) => [{ repo_id: repo.repoId }, { owner: repo.owner, slug: repo.slug }];
  const before = await gw.fingerprint();
  for (const t of naming) {
    const answers = new Set<string>();
    const cases: [Client, object][] = [
      ...refs(gone).map((r): [Client, object] => [stranger, r]),
      ...refs(gone).map((r): [Client, object] => [collaborator, r]),
      ...refs(priv).map((r): [Client, object] => [stranger, r]),
      [stranger, { repo_id: '00000000-0000-4000-8000-000000000000' }],
      [stranger, { owner: 'alice', slug: 'never-was' }],
      [stranger, { repo_id: 'not-a-uuid' }],
    ];
    for (const [client, ref] of cases) {
      const r = await call(client, t.name, argsFor(t.name, ref));
      expect(r.isError, `${t.name} ${JSON.stringify(ref)}`).toBe(true);
      answers.add(JSON.stringify(r));
    }
    expect([...answers], t.name).toEqual([
      JSON.stringify({ content: [{ type: 'text', text: 'repo not found' }], isError: true }),
    ]);
  }
  expect(await gw.fingerprint()).toBe(before);
  // musehub_search_repos never lists a deleted repo (or a private one to a stranger).
  const found = await call(stranger, 'musehub_search_repos', { query: 'sweep' });
  expect(found.structuredContent).toEqual({ repos: [] });
});

test('a revoked token stops working on an open session; a foreign Origin is refused; a session is its user’s', async () => {
  const u = await gw.user('dave');
  const client = await connect(u.token);
  expect((await call(client, 'musehub_whoami', {})).structuredContent).toMatchObject({ username: 'dave' });
  const [row] = await sql<{ token_id: string }>(
    gw.databaseUrl,
    'SELECT token_id FROM musehub_tokens WHERE user_id = $1',
    [u.userId],
  );
  await revokeToken(gw.em(), row!.token_id);
  // The HTTP layer refuses it (401) before any tool runs, once the revocation's NOTIFY reached
  // the token cache (as on REST: milliseconds); the SDK client surfaces the body.
  await eventually(() =>
    call(client, 'musehub_whoami', {}).then(
      () => false,
      (err) => /invalid or revoked token/.test(String(err)),
    ),
  );

  const init = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
  };
  const post = (headers: Record<string, string>, body: string) =>
    fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body,
    });
  const evil = await post({ origin: 'http://evil.example' }, JSON.stringify(init));
  expect(evil.status).toBe(403);
  expect((await evil.json()).error.message).toMatch(/origin http:\/\/evil.example may not call this server/);
  expect((await post({ origin: 'http://localhost:3000' }, JSON.stringify(init))).status).toBe(200);

  // Alice's session id, presented by Bob, is not a session.
  const opened = await post({ authorization: `Bearer ${alice.token}` }, JSON.stringify(init));
  const sid = opened.headers.get('mcp-session-id')!;
  expect(sid).toBeTruthy();
  const hijack = await post(
    { authorization: `Bearer ${bob.token}`, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' },
    JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
  );
  expect(hijack.status).toBe(404);
});

test('bad input is a JSON-RPC error with a message, never a 5xx', async () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body,
    });
  for (const body of [
    '{',
    '[]',
    '"x"',
    '{"jsonrpc":"2.0"}',
    '[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]',
    'x'.repeat(300 * 1024),
  ]) {
    const res = await post(body);
    expect(res.status, body.slice(0, 40)).toBeGreaterThanOrEqual(400);
    expect(res.status, body.slice(0, 40)).toBeLessThan(500);
    const answer = (await res.json()) as { error?: { message?: string } };
    expect(answer.error?.message, body.slice(0, 40)).toBeTruthy();
    // An oversized body is not read to its end: the connection must not be reused.
    if (res.status === 413) expect(res.headers.get('connection')).toBe('close');
  }
  const client = await connect(alice.token);
  await expect(client.callTool({ name: 'musehub_no_such_tool', arguments: {} })).resolves.toMatchObject({
    isError: true,
  });
  const wrongTypes = (await call(client, 'musehub_get_issue', { repo_id: 5, number: 'one' })) as ToolResult;
  expect(wrongTypes.isError).toBe(true);
  expect(text(wrongTypes)).toMatch(/Input validation error/);
});

test('over stdio: `musehub mcp` relays to the running gateway with MUSEHUB_TOKEN; the same tools and the same not-found', async () => {
  const repo = await createRepo(gw, alice.token, { name: 'stdio gone', visibility: 'public' });
  expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token: alice.token })).status).toBe(204);
  const client = new Client({ name: 'musehub-stdio-test', version: '1.0.0' });
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [path.resolve('bin/musehub.mjs'), 'mcp'],
      env: { ...env, MUSEHUB_URL: gw.url, MUSEHUB_TOKEN: alice.token, LOG_LEVEL: 'silent' },
      stderr: 'pipe',
    }),
  );
  clients.push(client);
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name)).toContain('musehub_delete_repo');
  expect((await call(client, 'musehub_whoami', {})).structuredContent).toEqual({ username: 'alice', anonymous: false });
  const gone = await call(client, 'musehub_get_context', { owner: 'alice', slug: repo.slug });
  expect(gone).toEqual({ content: [{ type: 'text', text: 'repo not found' }], isError: true });
});

test('a delete committed on another gateway process is not-found on this one’s MCP at once, as on REST', async () => {
  const other = await startTestGateway({ DATABASE_URL: gw.databaseUrl });
  try {
    const repo = await createRepo(gw, alice.token, { name: 'elsewhere', visibility: 'public' });
    const client = await connect(alice.token);
    const ref = { owner: 'alice', slug: repo.slug };
    expect((await call(client, 'musehub_get_context', ref)).isError).toBeFalsy();
    expect((await other.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token: alice.token })).status).toBe(204);
    // REST's bound is NOTIFY's arrival; tools read the repo row itself, so no wait is needed at all.
    for (const args of [ref, { repo_id: repo.repoId }]) {
      expect(text(await call(client, 'musehub_get_context', args))).toBe('repo not found');
    }
  } finally {
    await other.close();
  }
});

test('resource templates for a repo, its branches and its issues, with the same not-found for deleted, private and never-existing repos', async () => {
  const live = await createPushedRepo(gw, alice.token, 'resource live');
  const priv = await createRepo(gw, alice.token, { name: 'resource private' });
  const gone = await createRepo(gw, alice.token, { name: 'resource gone', visibility: 'public' });
  expect((await gw.request('DELETE', `/api/v1/repos/${gone.repoId}`, { token: alice.token })).status).toBe(204);
  const stranger = await connect(bob.token);
  const { resourceTemplates } = await stranger.listResourceTemplates();
  expect(resourceTemplates.map((t) => t.uriTemplate).sort()).toEqual([
    'musehub://repos/{owner}/{slug}',
    'musehub://repos/{owner}/{slug}/branches',
    'musehub://repos/{owner}/{slug}/issues',
  ]);
  const base = `musehub://repos/alice/${live.repo.slug}`;
  const read = async (uri: string) =>
    JSON.parse(((await stranger.readResource({ uri })).contents[0] as { text: string }).text);
  expect(await read(base)).toMatchObject({ repoId: live.repo.repoId, owner: 'alice' });
  expect(await read(`${base}/branches`)).toEqual({ main: live.head });
  expect(await read(`${base}/issues`)).toEqual([]);
  // Generated from resources/templates/list: a template added later is swept too.
  for (const { uriTemplate: suffix } of resourceTemplates) {
    const messages = new Set<string>();
    for (const slug of [priv.slug, gone.slug, 'never-was']) {
      const uri = suffix.replace('{owner}', 'alice').replace('{slug}', slug);
      const err = await stranger.readResource({ uri }).then(
        () => null,
        (e: Error & { code?: number }) => `${e.code}: ${e.message}`,
      );
      messages.add(String(err));
    }
    expect([...messages], suffix).toHaveLength(1);
    // Regression (issue 23, item 9): JSON-RPC "internal error" (-32603) was the answer; now the
    // MCP specification's "resource not found".
    expect([...messages][0]).toMatch(/^-32002: .*repo not found/);
  }
});
