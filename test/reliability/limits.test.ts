import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { MCP_BATCH_MAX } from '../../src/mcp/routes.ts';
import { RateBudget } from '../../src/middleware/limits.ts';
import { startGateway } from '../../src/server.ts';
import { createToken, createUser } from '../../src/users/index.ts';
import { createRepo } from '../helpers/builders.ts';
import { createTestDatabase, sql } from '../helpers/db.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, wire } from '../helpers/muse.ts';
import { eventually } from '../helpers/process.ts';

/** Abuse limits switched on, with every log line the gateway writes captured. */
let gw: Awaited<ReturnType<typeof startGateway>>;
let token: string;
let bobToken: string;
const logLines: string[] = [];
let dataDir: string;
let databaseUrl: string;

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-limits-'));
  databaseUrl = await createTestDatabase();
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    PORT: '0',
    LOG_LEVEL: 'debug',
    MUSEHUB_DATA_DIR: dataDir,
    MUSEHUB_RATE_LIMIT_PER_MINUTE: '5',
    MUSEHUB_MAX_CONCURRENT_PUSHES_PER_REPO: '1',
    MUSEHUB_REQUEST_TIMEOUT_MS: '1000',
  });
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  gw = await startGateway(config, createLogger('debug', sink));
  await createUser(gw.orm.em.fork(), 'alice');
  ({ token } = await createToken(gw.orm.em.fork(), 'alice'));
  await createUser(gw.orm.em.fork(), 'bob');
  ({ token: bobToken } = await createToken(gw.orm.em.fork(), 'bob'));
});
afterAll(async () => {
  await gw?.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

const asTest = () =>
  ({
    url: gw.url,
    request: (method: string, p: string, o: { token?: string; json?: unknown } = {}) =>
      fetch(`${gw.url}${p}`, {
        method,
        headers: {
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
          ...(o.json ? { 'content-type': 'application/json' } : {}),
        },
        body: o.json ? JSON.stringify(o.json) : undefined,
      }),
  }) as unknown as TestGateway;

test('fetch is rate limited per user and per address: 429 with Retry-After and a detail', async () => {
  const repo = await createRepo(asTest(), token, { name: 'limited', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  const body = { want: ['a'.repeat(64)], have: [] };
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await wire(asTest(), 'POST', `${remote}/fetch`, body, { token })).status);
  // Five allowed a minute (they fail as unknown commits: 400), the sixth is refused.
  expect(statuses).toEqual([400, 400, 400, 400, 400, 429]);
  const refused = await wire(asTest(), 'POST', `${remote}/fetch`, body, { token });
  expect(refused.status).toBe(429);
  expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(refused.body.detail).toMatch(/too many fetch requests \(5 a minute per user\); retry in \d+ s/);
  // Another user has their own budget; anonymous callers share their address's.
  expect((await wire(asTest(), 'POST', `${remote}/fetch`, body, { token: bobToken })).status).toBe(400);
  const anon = [];
  for (let i = 0; i < 6; i++) anon.push((await wire(asTest(), 'POST', `${remote}/fetch`, body)).status);
  expect(anon.at(-1)).toBe(429);
  expect(anon.slice(0, 5)).toEqual([400, 400, 400, 400, 400]);
  // Refs (ls-remote) is not rate limited: CI fleets poll it.
  for (let i = 0; i < 10; i++)
    expect((await wire(asTest(), 'GET', `${remote}/refs`, undefined, { token })).status).toBe(200);
});

test('one push at a time per repo when the cap is 1: the second concurrent push is 429, nothing half-written', async () => {
  const repo = await createRepo(asTest(), bobToken, { name: 'one at a time', visibility: 'public' });
  const remote = `/bob/${repo.slug}`;
  const pushes = Array.from({ length: 4 }, (_, i) => {
    const s = makeSnapshot({ [`f${i}.txt`]: `take ${i}` });
    return {
      commits: [makeCommit({ snapshotId: s.snapshot.snapshot_id })],
      snapshots: [s.snapshot],
      objects: s.objects,
    };
  });
  // Upload the objects first in one request (push/objects is not capped), then race the pushes
  // themselves: five push requests, within bob's rate limit of five a minute.
  const objects = pushes.flatMap((p) => p.objects);
  expect((await wire(asTest(), 'POST', `${remote}/push/objects`, { objects }, { token: bobToken })).status).toBe(200);
  const results = await Promise.all(
    pushes.map((p) =>
      wire(
        asTest(),
        'POST',
        `${remote}/push`,
        { bundle: { ...p, objects: [] }, branch: 'main', force: true },
        { token: bobToken },
      ),
    ),
  );
  const statuses = results.map((r) => r.status);
  expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
  for (const r of results.filter((x) => x.status === 429)) {
    expect(r.headers.get('retry-after')).toBe('1');
    expect(r.body.code).toBe('too_many_pushes');
  }
  expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
  // Nothing half-written: a landed push has its commit and snapshot rows, a refused one has
  // neither, and the branch points at a commit that landed.
  const rows = async (table: string, column: string) =>
    new Set(
      (
        await sql<Record<string, string>>(databaseUrl, `SELECT ${column} FROM ${table} WHERE repo_id = $1`, [
          repo.repoId,
        ])
      ).map((r) => r[column]!),
    );
  const commits = await rows('musehub_commits', 'commit_id');
  const snapshots = await rows('musehub_snapshots', 'snapshot_id');
  pushes.forEach((p, i) => {
    const landed = statuses[i] === 200;
    expect(commits.has(p.commits[0]!.commit_id), `push ${i} commit`).toBe(landed);
    expect(snapshots.has(p.snapshots[0]!.snapshot_id), `push ${i} snapshot`).toBe(landed);
  });
  const [branch] = await sql<{ head_commit_id: string }>(
    databaseUrl,
    "SELECT head_commit_id FROM musehub_branches WHERE repo_id = $1 AND name = 'main'",
    [repo.repoId],
  );
  const landedHeads = pushes.filter((_, i) => statuses[i] === 200).map((p) => p.commits[0]!.commit_id);
  expect(landedHeads).toContain(branch!.head_commit_id);
});

test('a client that never finishes sending its request is disconnected after the request timeout', async () => {
  const { port } = new URL(gw.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  // Slowloris: headers trickle in and never end.
  socket.write('POST /alice/limited/push HTTP/1.1\r\nHost: x\r\nX-Slow: 1');
  let closed = false;
  let response = '';
  socket.on('data', (d) => (response += d));
  socket.once('close', () => (closed = true));
  // MUSEHUB_REQUEST_TIMEOUT_MS is 1,000 here; Node checks every 250 ms.
  await eventually(async () => closed, 10_000, 20);
  expect(response).toMatch(/^HTTP\/1\.1 408/);
});

test('tokens, secrets and signatures never reach the logs', async () => {
  const repo = await createRepo(asTest(), token, { name: 'quiet logs', visibility: 'private' });
  const s = makeSnapshot({ 'a.txt': 'x' });
  const presign = await wire(
    asTest(),
    'POST',
    `/alice/${repo.slug}/presign`,
    { object_ids: [s.objects[0]!.object_id], direction: 'put' },
    { token },
  );
  const signed = new URL(presign.body.presigned[s.objects[0]!.object_id]);
  await fetch(signed, { method: 'PUT', body: new Uint8Array(s.objects[0]!.content) });
  await fetch(`${gw.url}/api/v1/repos`, { headers: { authorization: `Bearer ${token.slice(0, -3)}xyz` } });
  await fetch(`${gw.url}/api/v1/repos`, { headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } });
  expect(logLines.length).toBeGreaterThan(5);
  // The secret is everything after `mh_<32 hex>_`: base64url, so it may itself contain '_'
  // (splitting on '_' once gave a fragment of a few characters, found in the logs by chance).
  const secretOf = (t: string) => /^mh_[0-9a-f]{32}_(.{43})$/.exec(t)![1]!;
  for (const [kind, secret] of [
    ['token', token],
    ["alice's secret", secretOf(token)],
    ["bob's secret", secretOf(bobToken)],
    ['presign signature', signed.searchParams.get('sig')!],
    ['Basic credentials', 'YWxpY2U6c2VjcmV0'],
  ] as const) {
    expect(secret.length, kind).toBeGreaterThanOrEqual(16);
    expect(
      logLines.find((line) => line.includes(secret)),
      `${kind} in a log line`,
    ).toBeUndefined();
  }
});

// Regression (issue 23, item 5): /mcp had no budget, and one request could carry 100 tool calls.
test('MCP spends the same budget per caller, once per JSON-RPC message of a batch', async () => {
  const post = (body: unknown, token?: string) =>
    fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
  const call = (id: number) => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: 'musehub_search_repos', arguments: { query: 'x' } },
  });
  // Six calls in one request: more than five a minute, refused whole before any runs.
  const six = await post([1, 2, 3, 4, 5, 6].map(call), token);
  expect(six.status).toBe(429);
  expect(Number(six.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect((await six.json()).error.message).toMatch(
    /^too many MCP requests \(5 calls a minute per user, at most 5 at once; this one carries 6\); retry in \d+ s$/,
  );
  // Three, then three more: the second batch finds two left.
  expect((await post([1, 2, 3].map(call), token)).status).not.toBe(429);
  expect((await post([4, 5, 6].map(call), token)).status).toBe(429);
  // Another caller has a budget of their own; an anonymous one spends its address's.
  expect((await post(call(7), bobToken)).status).not.toBe(429);
  expect((await post(call(8))).status).not.toBe(429);
});

test('an MCP budget refills at the configured rate but holds at most one full batch', () => {
  // As /mcp sizes it for MUSEHUB_RATE_LIMIT_PER_MINUTE=600: a fresh budget of 600 spent at once
  // kept both cores busy for seconds (bench/flood.ts).
  const budget = new RateBudget(600, MCP_BATCH_MAX);
  expect(budget.take('a', MCP_BATCH_MAX)).toBe(0);
  expect(budget.take('a', 1)).toBeGreaterThanOrEqual(1);
  // take(key, 0) spends nothing and refuses only an empty budget (before a body is read).
  expect(budget.take('a', 0)).toBeGreaterThanOrEqual(1);
  expect(budget.take('b', 0)).toBe(0);
  expect(budget.take('b', MCP_BATCH_MAX)).toBe(0);
});
