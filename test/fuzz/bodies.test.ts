import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRepo } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll, wirePackr } from '../helpers/muse.ts';

/**
 * Property-based input testing of every endpoint that takes a body: each case is a valid body
 * broken in one way that makes it invalid (wrong types, missing fields, ids that are not
 * SHA-256, traversal in branch names and paths, NaN dates, integer overflow, huge arrays, deep
 * nesting, invalid UTF-8, truncated msgpack, random bytes). Every answer must be a 4xx with a
 * `detail`, within a deadline; after each endpoint's run, every musehub table and the object
 * directory must be byte-for-byte what they were. FUZZ_RUNS sets the cases per property.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 120);
const DEADLINE_MS = 15_000;

let gw: TestGateway;
let token: string;
let remote: string;
let repoId: string;
let head: string;
const tally = new Map<string, { cases: number; statuses: Record<number, number> }>();

beforeAll(async () => {
  gw = await startTestGateway({ MUSEHUB_MAX_BODY_BYTES: String(2 * 1024 * 1024) });
  ({ token } = await gw.user('alice'));
  await gw.user('bob');
  const repo = await createRepo(gw, token, { name: 'target', visibility: 'public' });
  repoId = repo.repoId;
  remote = `/alice/${repo.slug}`;
  const { snapshot, objects } = makeSnapshot({ 'a.txt': 'base' });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
  head = commit.commit_id;
  expect((await pushAll(gw, remote, token, { commits: [commit], snapshots: [snapshot], objects })).status).toBe(200);
  expect((await gw.request('POST', `/api/v1/repos/${repoId}/issues`, { token, json: { title: 'one' } })).status).toBe(
    201,
  );
  const proposal = await gw.request('POST', `/api/v1/repos/${repoId}/proposals`, {
    token,
    json: { title: 'p', fromBranch: 'main', toBranch: 'main' },
  });
  expect(proposal.status).toBeLessThan(500);
});
afterAll(async () => {
  const rows = [...tally].map(([endpoint, t]) => `${endpoint}: ${t.cases} cases ${JSON.stringify(t.statuses)}`);
  const total = [...tally.values()].reduce((n, t) => n + t.cases, 0);
  console.log(`fuzzed ${total} cases\n${rows.join('\n')}`);
  await gw?.close();
});

/** Every musehub table's rows and every object file, hashed: equal fingerprints = nothing changed. */
async function fingerprint(): Promise<string> {
  const tables = await sql<{ t: string }>(
    gw.databaseUrl,
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'musehub\\_%' AND table_name <> 'musehub_migrations' ORDER BY 1`,
  );
  const h = createHash('sha256');
  for (const { t } of tables) {
    const [row] = await sql<{ md5: string }>(
      gw.databaseUrl,
      `SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS md5 FROM ${t} x`,
    );
    h.update(`${t}:${row!.md5}\n`);
  }
  const dir = path.join(gw.dataDir, 'objects');
  for (const f of (await fs.readdir(dir, { recursive: true })).sort()) {
    const stat = await fs.stat(path.join(dir, f));
    if (stat.isFile())
      h.update(
        `${f}:${createHash('sha256')
          .update(await fs.readFile(path.join(dir, f)))
          .digest('hex')}\n`,
      );
  }
  return h.digest('hex');
}

type Body = { bytes: Uint8Array; type: string };
const msgpack = (v: unknown): Body => ({ bytes: new Uint8Array(wirePackr.pack(v)), type: 'application/x-msgpack' });
const json = (v: unknown): Body => ({ bytes: new TextEncoder().encode(JSON.stringify(v)), type: 'application/json' });

/** Sends one case and checks the answer: 4xx, JSON with a detail, in time. */
async function expectRejected(endpoint: string, method: string, url: string, body: Body) {
  const res = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': body.type,
      accept: 'application/x-msgpack, application/json',
    },
    body: body.bytes,
    signal: AbortSignal.timeout(DEADLINE_MS),
  });
  const text = await res.text();
  const t = tally.get(endpoint) ?? { cases: 0, statuses: {} };
  t.cases++;
  t.statuses[res.status] = (t.statuses[res.status] ?? 0) + 1;
  tally.set(endpoint, t);
  if (res.status < 400 || res.status >= 500) {
    throw new Error(
      `${endpoint}: ${res.status} for ${Buffer.from(body.bytes).toString('hex').slice(0, 200)}: ${text.slice(0, 300)}`,
    );
  }
  const detail = (JSON.parse(text) as { detail?: unknown }).detail;
  if (typeof detail !== 'string' || !detail) throw new Error(`${endpoint}: ${res.status} without a detail: ${text}`);
}

// ---- generators of broken values ----

const notHex64 = fc.oneof(
  fc.string({ maxLength: 80 }).filter((s) => !/^[0-9a-f]{64}$/.test(s)),
  fc.constant('A'.repeat(64)),
  fc.constant('0'.repeat(63)),
  fc.constant(`${'0'.repeat(64)} `),
  fc.constant('../'.repeat(20)),
);
const notAString = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);
const notAnArray = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.object({ maxDepth: 1 }));
const badBranch = fc.oneof(
  fc.constantFrom(
    '../main',
    'main/../../etc',
    '/abs',
    'a//b',
    'a..b',
    '.hidden',
    'trailing/',
    'sp ace',
    '',
    'x'.repeat(300),
    'a\u0000b',
    'feat.lock',
    '-flag',
    'a~1',
    'a:b',
    'a?b',
    'a*b',
    'a[b',
    'a\\b',
  ),
  fc.string({ maxLength: 20 }).map((s) => `${s}/../${s}`),
);
const badPath = fc.constantFrom(
  '../escape.txt',
  '/etc/passwd',
  'a/../../b',
  'C:\\x',
  'a\\b',
  'dir/./f',
  '',
  'a//b',
  'x\u0000y',
  'tab\there',
);
const badDate = fc.constantFrom('NaN', 'not a date', '2026-13-45T99:99:99Z', '', 'x'.repeat(100));
/** Raw-byte breakages that apply to any endpoint. */
const rawBreakages = (valid: () => Body) =>
  fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 512 }).map((bytes) => ({ bytes, type: 'application/x-msgpack' })),
    fc.uint8Array({ minLength: 1, maxLength: 512 }).map((bytes) => ({ bytes, type: 'application/json' })),
    fc.integer({ min: 1, max: 1000 }).map((cut) => {
      const b = valid();
      // A strict prefix of a msgpack map or a JSON object never parses as the whole.
      return { ...b, bytes: b.bytes.slice(0, Math.max(1, Math.min(cut, b.bytes.length - 1))) };
    }),
    // Nested one-element arrays (0x91 …) around an empty one (0x90): built by hand, since
    // encoding 100,000 levels would overflow this side's stack first.
    fc.constantFrom(5_000, 100_000).map((d) => ({
      bytes: new Uint8Array([...new Array(d).fill(0x91), 0x90]),
      type: 'application/x-msgpack',
    })),
    fc
      .constantFrom(5_000, 100_000)
      .map((d) => ({ bytes: new TextEncoder().encode(`${'['.repeat(d)}${']'.repeat(d)}`), type: 'application/json' })),
    fc.constant({ bytes: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), type: 'application/json' }),
    fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data').map((type) => ({ ...valid(), type })),
  );

/** One property per endpoint: fast-check drives RUNS broken bodies; the database must not move. */
async function fuzz(endpoint: string, method: string, url: () => string, cases: fc.Arbitrary<Body>) {
  const before = await fingerprint();
  await fc.assert(
    fc.asyncProperty(cases, (body) => expectRejected(endpoint, method, url(), body)),
    { numRuns: RUNS },
  );
  expect(await fingerprint(), `${endpoint} changed the database or object store`).toBe(before);
}

const set = <T extends object>(base: T, key: string, value: unknown) => ({ ...base, [key]: value });
const without = (base: object, key: string) => {
  const copy: Record<string, unknown> = { ...base };
  delete copy[key];
  return copy;
};

// ---- transport ----

test('filter-objects', async () => {
  const valid = { object_ids: ['a'.repeat(64)] };
  await fuzz(
    'POST filter-objects',
    'POST',
    () => `${gw.url}${remote}/filter-objects`,
    fc.oneof(
      rawBreakages(() => msgpack(valid)),
      notAnArray.map((v) => msgpack(set(valid, 'object_ids', v))),
      notHex64.map((id) => msgpack({ object_ids: [id] })),
      fc.constant(msgpack({})),
      fc.constant(msgpack({ object_ids: Array.from({ length: 50_001 }, (_, i) => i.toString(16).padStart(64, '0')) })),
      notHex64.map((id) => json({ object_ids: [id] })),
    ),
  );
});

test('push/objects', async () => {
  const content = Buffer.from('fuzz content');
  const good = { object_id: createHash('sha256').update(content).digest('hex'), content };
  const valid = { objects: [good] };
  await fuzz(
    'POST push/objects',
    'POST',
    () => `${gw.url}${remote}/push/objects`,
    fc.oneof(
      rawBreakages(() => msgpack(valid)),
      notAnArray.map((v) => msgpack({ objects: v })),
      notHex64.map((id) => msgpack({ objects: [good, { object_id: id, content }] })),
      fc
        .uint8Array({ minLength: 1, maxLength: 64 })
        .map((b) => msgpack({ objects: [good, { object_id: 'b'.repeat(64), content: Buffer.from(b) }] })),
      notAString
        .filter((v) => !(v instanceof Uint8Array))
        .map((c) => msgpack({ objects: [good, { object_id: good.object_id, content: c }] })),
      fc.constant(msgpack({ objects: [good, without(good, 'content')] })),
      fc
        .string({ minLength: 1, maxLength: 20 })
        .map((s) => json({ objects: [good, { object_id: good.object_id, content: `${s}!!not base64` }] })),
      fc.constant(msgpack({ objects: Array.from({ length: 1001 }, () => good) })),
    ),
  );
});

test('push', async () => {
  const { snapshot } = makeSnapshot({ 'a.txt': 'base' });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id, parent: head });
  const valid = { bundle: { commits: [commit], snapshots: [snapshot], objects: [] }, branch: 'main', force: false };
  const withCommit = (field: string, v: unknown) =>
    msgpack({ ...valid, bundle: { ...valid.bundle, commits: [set(commit, field, v)] } });
  await fuzz(
    'POST push',
    'POST',
    () => `${gw.url}${remote}/push`,
    fc.oneof(
      rawBreakages(() => msgpack(valid)),
      badBranch.map((b) => msgpack(set(valid, 'branch', b))),
      notAString.map((b) => msgpack(set(valid, 'branch', b))),
      fc.constant(msgpack(without(valid, 'branch'))),
      fc.constant(msgpack(without(valid, 'bundle'))),
      notHex64.map((id) => withCommit('commit_id', id)),
      notHex64.map((id) => withCommit('snapshot_id', id)),
      notHex64.filter((s) => s !== '').map((id) => withCommit('parent_commit_id', id)),
      badDate.map((d) => withCommit('committed_at', d)),
      notAString.filter((v) => v !== null).map((v) => withCommit('message', v)),
      badPath.map((p) =>
        msgpack({
          ...valid,
          bundle: { ...valid.bundle, snapshots: [{ ...snapshot, manifest: { [p]: 'a'.repeat(64) } }] },
        }),
      ),
      notHex64.map((id) =>
        msgpack({ ...valid, bundle: { ...valid.bundle, snapshots: [{ ...snapshot, manifest: { 'ok.txt': id } }] } }),
      ),
      fc.oneof(fc.string(), fc.integer()).map((f) => msgpack(set(valid, 'force', f))),
      // 2^64 as a msgpack uint64: overflow for any field that expects a small integer or a string.
      fc.constant(
        msgpack({ ...valid, bundle: { ...valid.bundle, commits: [set(commit, 'commit_id', 2n ** 64n - 1n)] } }),
      ),
      // Well-formed, but naming a snapshot and parent the repo does not have: refused before any write.
      fc.constant(
        msgpack({
          ...valid,
          bundle: {
            commits: [makeCommit({ snapshotId: 'c'.repeat(64), parent: 'd'.repeat(64) })],
            snapshots: [],
            objects: [],
          },
        }),
      ),
    ),
  );
});

test('negotiate and fetch', async () => {
  for (const [endpoint, valid] of [
    ['negotiate', { want: [head], have: [] }],
    ['fetch', { want: [head], have: [] }],
  ] as const) {
    await fuzz(
      `POST ${endpoint}`,
      'POST',
      () => `${gw.url}${remote}/${endpoint}`,
      fc.oneof(
        rawBreakages(() => msgpack(valid)),
        notAnArray.map((v) => msgpack(set(valid, 'want', v))),
        notAnArray.map((v) => msgpack(set(valid, 'have', v))),
        notHex64.map((id) => msgpack({ want: [id], have: [] })),
        notHex64.map((id) => msgpack({ want: [head], have: [id] })),
        fc.constant(msgpack({ want: Array.from({ length: 1001 }, () => head), have: [] })),
        fc.constant(msgpack(without(valid, 'want'))),
        ...(endpoint === 'fetch' ? [fc.constant(msgpack({ want: ['e'.repeat(64)], have: [] }))] : []),
      ),
    );
  }
});

test('presign and the presigned upload URL', async () => {
  const valid = { object_ids: ['a'.repeat(64)], direction: 'put', ttl_seconds: 60 };
  await fuzz(
    'POST presign',
    'POST',
    () => `${gw.url}${remote}/presign`,
    fc.oneof(
      rawBreakages(() => msgpack(valid)),
      fc
        .string()
        .filter((d) => d !== 'put' && d !== 'get')
        .map((d) => msgpack(set(valid, 'direction', d))),
      fc
        .oneof(
          fc.constant(0),
          fc.constant(-1),
          fc.constant(3601),
          fc.constant(1.5),
          fc.constant(Number.NaN),
          fc.constant(2n ** 63n),
        )
        .map((t) => msgpack(set(valid, 'ttl_seconds', t))),
      notHex64.map((id) => msgpack(set(valid, 'object_ids', [id]))),
    ),
  );
  // The signed URL is the input here: its parts are fuzzed, the body is arbitrary bytes.
  const id = 'a'.repeat(64);
  const before = await fingerprint();
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        repo: fc.oneof(fc.constant(repoId), fc.uuid(), fc.constant('..%2F..%2Fetc')),
        object: fc.oneof(fc.constant(id), notHex64.map(encodeURIComponent)),
        max: fc.oneof(fc.constant('1000'), fc.string({ maxLength: 8 }).map(encodeURIComponent), fc.constant('1e400')),
        exp: fc.oneof(
          fc.constant('99999999999'),
          fc.constant('0'),
          fc.string({ maxLength: 8 }).map(encodeURIComponent),
        ),
        sig: fc.oneof(
          fc.constant(''),
          fc.string({ maxLength: 64 }).map(encodeURIComponent),
          fc.constant('a'.repeat(64)),
        ),
        bytes: fc.uint8Array({ maxLength: 256 }),
      }),
      ({ repo, object, max, exp, sig, bytes }) =>
        expectRejected(
          'PUT presigned',
          'PUT',
          `${gw.url}/presigned/${repo}/${object}?max=${max}&exp=${exp}&sig=${sig}`,
          {
            bytes,
            type: 'application/octet-stream',
          },
        ),
    ),
    { numRuns: RUNS },
  );
  expect(await fingerprint()).toBe(before);
});

// ---- REST: every operation in /openapi.json that takes a body ----

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  enum?: unknown[];
  maxLength?: number;
  maxItems?: number;
  anyOf?: Schema[];
  $ref?: string;
  items?: Schema;
}

/** Values whose JSON type the property does not allow (so each one is invalid there). */
function wrongValues(s: Schema): unknown[] {
  const types = new Set<string>([s.type ?? []].flat());
  for (const alt of s.anyOf ?? []) for (const t of [alt.type ?? []].flat()) types.add(t);
  const pool: [string, unknown][] = [
    ['string', 'a string'],
    ['number', 12.5],
    ['integer', 7],
    ['boolean', true],
    ['null', null],
    ['array', [1, 2]],
    ['object', { nested: { deeper: 1 } }],
  ];
  const out = pool.filter(([t]) => !types.has(t) && !(t === 'integer' && types.has('number'))).map(([, v]) => v);
  if (s.enum) out.push('not-one-of-them');
  if (s.maxLength !== undefined) out.push('x'.repeat(s.maxLength + 1));
  if (s.maxItems !== undefined) out.push(Array.from({ length: s.maxItems + 1 }, () => 'x'));
  return out;
}

test('every REST operation with a body', async () => {
  const doc = (await (await gw.request('GET', '/openapi.json')).json()) as {
    paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> } }>>;
    components: { schemas: Record<string, Schema> };
  };
  const resolve = (s: Schema): Schema => (s.$ref ? doc.components.schemas[s.$ref.split('/').at(-1)!]! : s);
  const params: Record<string, string> = { repo_id: repoId, number: '1', username: 'bob' };
  let operations = 0;
  for (const [route, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const schema = op.requestBody?.content['application/json']?.schema;
      if (!schema) continue;
      operations++;
      const s = resolve(schema);
      const props = Object.entries(s.properties ?? {}).map(([k, v]) => [k, resolve(v)] as const);
      // A body that would pass: the smallest valid-looking value for each required field.
      const base = Object.fromEntries(
        (s.required ?? []).map((k) => {
          const p = resolve(s.properties![k]!);
          return [k, p.enum ? p.enum[0] : [p.type].flat().includes('array') ? ['x'] : 'valid'];
        }),
      );
      const url = `${gw.url}/api/v1${route.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? name)}`;
      const mutations: fc.Arbitrary<Body>[] = [
        rawBreakages(() => json(base)),
        fc
          .oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.jsonValue(), { maxLength: 3 }))
          .map(json),
        fc.constant({
          bytes: new TextEncoder().encode(`{"x":"${'a'.repeat(1024 * 1024 + 10)}"}`),
          type: 'application/json',
        }),
      ];
      for (const [key, p] of props) {
        const wrong = wrongValues(p);
        if (wrong.length) mutations.push(fc.constantFrom(...wrong).map((v) => json(set(base, key, v))));
        // The same field carrying bytes that are not UTF-8.
        if ([p.type].flat().includes('string')) {
          const text = JSON.stringify(set(base, key, 'PLACEHOLDER')).replace('PLACEHOLDER', '\u0000');
          const bytes = new TextEncoder().encode(text);
          const at = bytes.indexOf(0);
          const broken = new Uint8Array([...bytes.slice(0, at), 0xc3, 0x28, ...bytes.slice(at + 1)]);
          mutations.push(fc.constant({ bytes: broken, type: 'application/json' }));
        }
      }
      for (const key of s.required ?? []) mutations.push(fc.constant(json(without(base, key))));
      await fuzz(`${method.toUpperCase()} ${route}`, method.toUpperCase(), () => url, fc.oneof(...mutations));
    }
  }
  expect(operations).toBeGreaterThanOrEqual(10);
});
