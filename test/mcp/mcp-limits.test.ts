import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { MCP_BATCH_MAX, MCP_POSTS_PER_CALLER } from '../../src/mcp/routes.ts';
import { createRepo, type RepoBody } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { eventually } from '../helpers/process.ts';

/**
 * Regression (issue 23, item 5): a request of 100 tool calls ran all 100 at once, so 20 clients
 * flooding /mcp took every pooled connection from the wire protocol (other users' refs went from
 * ~30 ms to seconds). Now a process runs MUSEHUB_MCP_MAX_CONCURRENT_CALLS calls at a time and
 * the rest wait their turn; a caller has at most MCP_POSTS_PER_CALLER requests in flight; a
 * request carries at most MCP_BATCH_MAX messages. The orders are forced with a lock the test
 * holds (issue numbering's advisory lock), never with time.
 */
let gw: TestGateway;
let alice: { username: string; token: string };
let bob: { username: string; token: string };
let repo: RepoBody;
beforeAll(async () => {
  gw = await startTestGateway({ MUSEHUB_MCP_MAX_CONCURRENT_CALLS: '2' });
  alice = await gw.user('alice');
  bob = await gw.user('bob');
  repo = await createRepo(gw, alice.token, { name: 'busy', visibility: 'public' });
});
afterAll(() => gw?.close());

const ACCEPT = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** An initialized MCP session for the token's user: the headers its requests carry. */
async function session(token: string): Promise<Record<string, string>> {
  const headers = { ...ACCEPT, authorization: `Bearer ${token}` };
  const init = await fetch(`${gw.url}/mcp`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'limits', version: '1' } },
    }),
  });
  await init.text();
  const id = init.headers.get('mcp-session-id');
  expect(id, 'session id').toBeTruthy();
  const withSession = { ...headers, 'mcp-session-id': id!, 'mcp-protocol-version': '2025-06-18' };
  const ack = await fetch(`${gw.url}/mcp`, {
    method: 'POST',
    headers: withSession,
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  expect(ack.status).toBe(202);
  return withSession;
}

const createIssue = (id: number, title: string) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'musehub_create_issue', arguments: { owner: 'alice', slug: repo.slug, title } },
});

const post = (headers: Record<string, string>, body: unknown) =>
  fetch(`${gw.url}/mcp`, { method: 'POST', headers, body: JSON.stringify(body) });

/** The JSON-RPC answers in a response (a JSON body or the data lines of an event stream). */
async function answers(res: Response): Promise<{ id: number; result?: { isError?: boolean }; error?: unknown }[]> {
  const text = await res.text();
  if (res.headers.get('content-type')?.includes('text/event-stream')) {
    return text
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)));
  }
  return [JSON.parse(text)].flat();
}

/** Holds issue numbering's lock for the repo, so every musehub_create_issue call waits at it. */
async function holdNumbering() {
  const client = new pg.Client({ connectionString: gw.databaseUrl });
  await client.connect();
  await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`musehub_issues:${repo.repoId}`]);
  return async () => {
    await client.query('SELECT pg_advisory_unlock_all()');
    await client.end();
  };
}

const gauges = async () => {
  const text = await (await gw.request('GET', '/metrics')).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
  return { running: read('musehub_mcp_calls_running'), queued: read('musehub_mcp_calls_queued') };
};

const waitingAtLock = async () =>
  (
    await sql<{ n: number }>(
      gw.databaseUrl,
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
    )
  )[0]!.n;

test('a batch of tool calls runs MUSEHUB_MCP_MAX_CONCURRENT_CALLS at a time; the rest wait their turn and all complete', async () => {
  const headers = await session(alice.token);
  const release = await holdNumbering();
  let answered: ReturnType<typeof answers> | undefined;
  try {
    const batch = post(
      headers,
      [1, 2, 3, 4, 5].map((i) => createIssue(i, `batch ${i}`)),
    );
    answered = batch.then(answers);
    // Two calls are at the lock, three wait for a slot; without the cap all five reach the lock.
    // (A call holding a slot reaches the lock a moment later: both are waited for together.)
    await eventually(async () => {
      expect(await gauges()).toEqual({ running: 2, queued: 3 });
      expect(await waitingAtLock()).toBe(2);
      return true;
    });
  } finally {
    await release();
  }
  const results = await answered!;
  expect(results.map((r) => r.id).sort()).toEqual([1, 2, 3, 4, 5]);
  for (const r of results) expect(r.result?.isError, JSON.stringify(r)).toBeFalsy();
  const titles = await sql<{ title: string }>(
    gw.databaseUrl,
    `SELECT title FROM musehub_issues WHERE repo_id = $1 AND title LIKE 'batch %' ORDER BY title`,
    [repo.repoId],
  );
  expect(titles.map((t) => t.title)).toEqual(['batch 1', 'batch 2', 'batch 3', 'batch 4', 'batch 5']);
  expect(await gauges()).toEqual({ running: 0, queued: 0 });
});

test('a caller has at most MCP_POSTS_PER_CALLER requests in flight; the next is a 429, other callers go on', async () => {
  const headers = await session(alice.token);
  const bobHeaders = await session(bob.token);
  const release = await holdNumbering();
  const inFlight: Promise<Response>[] = [];
  try {
    for (let i = 0; i < MCP_POSTS_PER_CALLER; i++) inFlight.push(post(headers, createIssue(i + 1, `in flight ${i}`)));
    await eventually(async () => expect(await gauges()).toEqual({ running: 2, queued: MCP_POSTS_PER_CALLER - 2 }));
    const refused = await post(headers, createIssue(100, 'one too many'));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect((await refused.json()).error.message).toBe(
      `${MCP_POSTS_PER_CALLER} MCP requests from your user are already in progress; retry when one has been answered`,
    );
    // Bob is not alice: his request is served while hers wait.
    const other = await post(bobHeaders, { jsonrpc: '2.0', id: 9, method: 'tools/list' });
    expect(other.status).toBe(200);
    expect((await answers(other))[0]?.result).toBeDefined();
  } finally {
    await release();
  }
  for (const res of await Promise.all(inFlight)) {
    expect(res.status).toBe(200);
    expect((await answers(res))[0]?.result?.isError).toBeFalsy();
  }
  // Each answer read to its end let go of its place: alice may send again.
  const again = await post(headers, { jsonrpc: '2.0', id: 10, method: 'tools/list' });
  expect(again.status).toBe(200);
  await again.text();
  const stored = await sql(gw.databaseUrl, `SELECT 1 FROM musehub_issues WHERE title = 'one too many'`);
  expect(stored).toEqual([]);
});

test('a request carrying more than MCP_BATCH_MAX messages is refused whole, nothing run', async () => {
  const headers = await session(alice.token);
  const before = await gw.fingerprint();
  const res = await post(
    headers,
    Array.from({ length: MCP_BATCH_MAX + 1 }, (_, i) => createIssue(i + 1, `too many ${i}`)),
  );
  expect(res.status).toBe(400);
  expect((await res.json()).error).toEqual({
    code: -32600,
    message: `a request may carry at most ${MCP_BATCH_MAX} messages; this one carries ${MCP_BATCH_MAX + 1}`,
  });
  expect(await gw.fingerprint()).toBe(before);
});
