import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { assertProperty, fuzzSeed } from '../fuzz/seed.ts';
import { createRepo } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll, wire } from '../helpers/muse.ts';

/**
 * An incremental fetch walks history a bounded number of commits at a time and stops at `have`
 * in memory (the query never carries the client's history). Whatever the history's shape and
 * whatever the client holds, it must send exactly the commits a plain walk from `want` that
 * never enters `have` reaches — including walks longer than one round (64, then 256 commits).
 */
const SEED = fuzzSeed();
console.log(`fetch walk: seed ${SEED} (replay: FUZZ_SEED=${SEED})`);

let gw: TestGateway;
let remote: string;
type Commit = ReturnType<typeof makeCommit>;
const commits: Commit[] = [];

beforeAll(async () => {
  gw = await startTestGateway({ LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const alice = await gw.user('alice');
  const repo = await createRepo(gw, alice.token, { name: 'walk', visibility: 'public' });
  remote = `/alice/${repo.slug}`;
  // 400 commits: mostly a line, with side branches merged back (two parents) now and then.
  const { snapshot, objects } = makeSnapshot({ 'a.txt': 'a' });
  const rand = fc.sample(fc.integer({ min: 0, max: 99 }), { seed: SEED, numRuns: 800 });
  for (let i = 0; i < 400; i++) {
    const r = rand[i]!;
    const parent = i === 0 ? null : commits[i - 1]!.commit_id;
    // A merge joins the line with an older commit, up to 150 back.
    const parent2 = i > 10 && r < 12 ? commits[Math.max(0, i - 2 - Math.floor(rand[400 + i]! * 1.5))]!.commit_id : null;
    commits.push(makeCommit({ snapshotId: snapshot.snapshot_id, parent, parent2, message: `c${i}` }));
  }
  const pushed = await pushAll(gw, remote, alice.token, { commits, snapshots: [snapshot], objects });
  expect(pushed.status).toBe(200);
});
afterAll(() => gw?.close());

/** The reference: every commit reachable from `want` without entering `have`. */
function expected(want: string[], have: Set<string>): Set<string> {
  const byId = new Map(commits.map((c) => [c.commit_id, c]));
  const out = new Set<string>();
  const stack = want.filter((id) => !have.has(id));
  while (stack.length) {
    const id = stack.pop()!;
    if (out.has(id) || have.has(id)) continue;
    out.add(id);
    const c = byId.get(id)!;
    for (const p of [c.parent_commit_id, c.parent2_commit_id]) if (p) stack.push(p);
  }
  return out;
}

test('an incremental fetch sends exactly what a full walk stopping at `have` reaches', async () => {
  const index = fc.integer({ min: 0, max: commits.length - 1 });
  const cases = { rounds: 0, longWalks: 0 };
  await assertProperty(
    SEED,
    fc.asyncProperty(
      fc.array(index, { minLength: 1, maxLength: 2 }),
      // What the client holds: a prefix of history (what `muse fetch` sends) or any scattering.
      fc.oneof(
        index.map((n) => commits.slice(0, n).map((c) => c.commit_id)),
        fc.uniqueArray(index, { maxLength: 200 }).map((ns) => ns.map((n) => commits[n]!.commit_id)),
      ),
      async (wantAt, have) => {
        const want = wantAt.map((n) => commits[n]!.commit_id);
        const res = await wire(gw, 'POST', `${remote}/fetch`, { want, have });
        expect(res.status).toBe(200);
        const sent = res.body.commits.map((c: Commit) => c.commit_id) as string[];
        const truth = expected(want, new Set(have));
        expect(sent.length).toBe(new Set(sent).size);
        expect(new Set(sent)).toEqual(truth);
        cases.rounds++;
        if (have.length && truth.size > 64) cases.longWalks++;
      },
    ),
    60,
  );
  // The property must have exercised walks longer than one bounded round.
  expect(cases.rounds).toBe(60);
  expect(cases.longWalks).toBeGreaterThan(5);
});
