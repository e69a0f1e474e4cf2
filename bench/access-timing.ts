/**
 * `npm run bench:timing`: can a caller tell, by the time an answer takes, a private repo they may
 * not read from one that never existed or was deleted? The bytes are already identical (the route
 * sweep); this measures the time. For each surface, requests for the three targets are sent
 * one at a time and interleaved (never, private, deleted; private, deleted, never; …) so drift
 * and order hit all three alike; each target's median is read against the never-existed median of the same run. Goal:
 * private and deleted within 10 % of never-existed. A Mann–Whitney U test says whether 300
 * samples can tell them apart at all (|z| < 2.58 is p > 0.01: they cannot).
 *
 * Timed with node:http on one keep-alive socket (less client work than fetch, so differences
 * are not diluted by the client's own time).
 */

import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { openOrm } from '../src/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { createToken, createUser } from '../src/users/index.ts';
import { type BenchGateway, spawnGateway } from './gateway.ts';
import type { Row } from './row.ts';

const SAMPLES = Number(process.env.BENCH_TIMING_SAMPLES ?? 400);
const WARM_UP = 100;
const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** One GET, its status and the time to the whole answer in ms. */
function timedGet(base: string, urlPath: string, headers: Record<string, string>): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http
      .get(`${base}${urlPath}`, { agent, headers }, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve([res.statusCode ?? 0, performance.now() - t0]));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/**
 * Mann–Whitney U as a normal z score (ties get their average rank; no tie correction, which
 * only makes |z| larger, i.e. the test stricter for us).
 */
export function mannWhitneyZ(a: number[], b: number[]): number {
  const all = [...a.map((v) => [v, 0] as const), ...b.map((v) => [v, 1] as const)].sort((x, y) => x[0] - y[0]);
  const ranks = new Array<number>(all.length);
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]![0] === all[i]![0]) j++;
    for (let k = i; k <= j; k++) ranks[k] = (i + j) / 2 + 1;
    i = j + 1;
  }
  let rankA = 0;
  all.forEach(([, side], i) => {
    if (side === 0) rankA += ranks[i]!;
  });
  const n1 = a.length;
  const n2 = b.length;
  const u = rankA - (n1 * (n1 + 1)) / 2;
  return (u - (n1 * n2) / 2) / Math.sqrt((n1 * n2 * (n1 + n2 + 1)) / 12);
}

export interface Surface {
  name: string;
  headers: Record<string, string>;
  /** The request path for a repo named by id and by owner/slug. */
  path(repo: { repoId: string; owner: string; slug: string }): string;
}

export interface Targets {
  never: { repoId: string; owner: string; slug: string };
  priv: { repoId: string; owner: string; slug: string };
  deleted: { repoId: string; owner: string; slug: string };
}

/** One row per surface and target: medians, the ratio to never-existed, and the U test's z. */
export async function accessTimingRows(gw: Pick<BenchGateway, 'url'>, targets: Targets, surfaces: Surface[]) {
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const s of surfaces) {
    const order = [targets.never, targets.priv, targets.deleted];
    const times: number[][] = [[], [], []];
    for (let i = 0; i < WARM_UP + SAMPLES; i++) {
      // Each round starts at a different target: whatever the previous request left behind
      // (a pooled connection, garbage) falls on all three alike.
      for (let j = 0; j < 3; j++) {
        const k = (i + j) % 3;
        const target = order[k]!;
        const [status, ms] = await timedGet(gw.url, s.path(target), s.headers);
        if (status !== 404) throw new Error(`${s.name}: ${status} for ${s.path(target)}, expected the 404`);
        if (i >= WARM_UP) times[k]!.push(ms);
      }
    }
    const [never, priv, deleted] = times.map(median) as [number, number, number];
    const zPriv = mannWhitneyZ(times[1]!, times[0]!);
    const zDel = mannWhitneyZ(times[2]!, times[0]!);
    const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]!;
    for (const [label, m, z, xs] of [
      ['never existed', never, 0, times[0]!],
      ['private, not yours', priv, zPriv, times[1]!],
      ['deleted', deleted, zDel, times[2]!],
    ] as const) {
      rows.push({
        scenario: `404 timing: ${s.name}, ${label}`,
        p50ms: round(m),
        p99ms: round(p99(xs)),
        errors: 0,
        peakRssMiB: 0,
        rssGrowthMiB: 0,
        ...(label === 'never existed' ? {} : { baseline: 'never existed, same surface', ratio: round(m / never) }),
      });
      if (label !== 'never existed')
        notes.push(`${s.name}, ${label}: median ${round(m / never)}× never-existed, Mann–Whitney z = ${round(z, 2)}`);
    }
  }
  return { rows, notes };
}

/** The five surfaces issue 23 measured, for a stranger (carol) asking about alice's repos. */
export function strangerSurfaces(token: string, sessionCookie: string): Surface[] {
  const bearer = { authorization: `Bearer ${token}` };
  return [
    {
      name: 'wire refs, stranger token',
      headers: { ...bearer, accept: 'application/x-msgpack' },
      path: (r) => `/${r.owner}/${r.slug}/refs`,
    },
    {
      name: 'wire refs, anonymous',
      headers: { accept: 'application/x-msgpack' },
      path: (r) => `/${r.owner}/${r.slug}/refs`,
    },
    { name: 'REST GET /repos/{id}', headers: bearer, path: (r) => `/api/v1/repos/${r.repoId}` },
    { name: 'REST repo by name', headers: bearer, path: (r) => `/api/v1/users/${r.owner}/repos/${r.slug}` },
    { name: 'REST issues list', headers: bearer, path: (r) => `/api/v1/repos/${r.repoId}/issues` },
    {
      name: 'repo page, signed in',
      headers: { cookie: sessionCookie, accept: 'text/html' },
      path: (r) => `/${r.owner}/${r.slug}`,
    },
  ];
}

/** Signs in through the form as a browser does; returns the session cookie. */
async function signIn(base: string, token: string): Promise<string> {
  const form = await fetch(`${base}/login`, { redirect: 'manual' });
  const loginCookie = form.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const csrf = /name="csrf" value="([^"]*)"/.exec(await form.text())?.[1] ?? '';
  const res = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie },
    body: new URLSearchParams({ csrf, token }).toString(),
    redirect: 'manual',
  });
  const session = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.includes('musehub_session='));
  if (!session) throw new Error(`sign-in failed: ${res.status}`);
  return session;
}

/** Alice's private repo and deleted repo, and carol (a stranger to both) signed in. */
export async function seedTargets(gw: Pick<BenchGateway, 'url'>, databaseUrl: string) {
  const orm = await openOrm(databaseUrl, 2);
  await createUser(orm.em.fork(), 'alice');
  await createUser(orm.em.fork(), 'carol');
  await createUser(orm.em.fork(), 'dave');
  const alice = (await createToken(orm.em.fork(), 'alice')).token;
  const carol = (await createToken(orm.em.fork(), 'carol')).token;
  await orm.close();
  const create = async (name: string, visibility: string) => {
    const res = await fetch(`${gw.url}/api/v1/repos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, visibility }),
    });
    if (!res.ok) throw new Error(await res.text());
    const body = (await res.json()) as { repoId: string; slug: string };
    return { repoId: body.repoId, owner: 'alice', slug: body.slug };
  };
  const priv = await create('timing-private', 'private');
  const deleted = await create('timing-deleted', 'public');
  // A collaborator on the private repo, so its permission lookup has a row to pass by.
  const put = await fetch(`${gw.url}/api/v1/repos/${priv.repoId}/collaborators/dave`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
    body: JSON.stringify({ permission: 'read' }),
  });
  if (!put.ok) throw new Error(`collaborator: ${put.status}`);
  const res = await fetch(`${gw.url}/api/v1/repos/${deleted.repoId}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${alice}` },
  });
  if (res.status !== 204) throw new Error(`delete: ${res.status}`);
  const targets: Targets = { never: { repoId: randomUUID(), owner: 'alice', slug: 'timing-never' }, priv, deleted };
  return { targets, carol, carolSession: await signIn(gw.url, carol) };
}

export function printTimingTable(rows: Row[]) {
  console.log('| scenario | p50 ms | p99 ms | × never existed |');
  console.log('| --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.scenario} | ${r.p50ms} | ${r.p99ms} | ${r.ratio ?? ''} |`);
}

async function main() {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-timing-'));
  await fs.chmod(tmp, 0o711);
  const pg = process.env.DATABASE_URL ? null : await startEmbeddedPostgres({ dir: path.join(tmp, 'db') });
  const databaseUrl = process.env.DATABASE_URL ?? pg!.url;
  const gw = await spawnGateway(databaseUrl, path.join(tmp, 'data'), { MUSEHUB_WORKERS: '1' });
  try {
    const { targets, carol, carolSession } = await seedTargets(gw, databaseUrl);
    const { rows, notes } = await accessTimingRows(gw, targets, strangerSurfaces(carol, carolSession));
    printTimingTable(rows);
    for (const n of notes) console.log(n);
  } finally {
    await gw.stop();
    await pg?.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
