import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { collectGarbage } from '../../src/integrity/gc.ts';
import { fuzzSeed } from '../fuzz/seed.ts';
import { createRepo } from '../helpers/builders.ts';
import { s3Env, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, PRESIGN_OVER_BYTES, pushLikeMuse, type WireObject, wire } from '../helpers/muse.ts';

/**
 * Garbage collection at grace 0, over and over, while clients push the very bytes it is
 * collecting (issue 25): a pool of contents becomes garbage by a purge, then each round pushes
 * seeded subsets of it to new repos while collections run back to back, and purges the round's
 * repos to make the pool garbage again. A push that deduplicates against bytes a collection is
 * about to remove must end with the bytes stored: every push succeeds, every clone right after
 * its push and at the end is byte-identical, and fsck (bytes re-hashed) finds every row's bytes.
 */
const seed = fuzzSeed();
console.log(`gc race: seed ${seed} (replay with FUZZ_SEED=${seed})`);

/** mulberry32: a small seeded generator, so each run pushes the same subsets in the same order. */
function generator(s: number) {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const ROUNDS = 6;
const PUSHERS = 3;

describe.each(['filesystem', 'postgres', 's3'] as const)('the %s store', (store) => {
  let gw: TestGateway;
  let token: string;
  beforeAll(async () => {
    gw = await startTestGateway(store === 's3' ? await s3Env() : { MUSEHUB_OBJECT_STORE: store });
    ({ token } = await gw.user('alice'));
  });
  afterAll(() => gw?.close());

  test(`collections at grace 0 race ${PUSHERS} pushers of the same bytes for ${ROUNDS} rounds; nothing named is lost`, async () => {
    const random = generator(seed);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
    // Small objects go inline (a pack per push), the large one through a presigned upload.
    const pool = [PRESIGN_OVER_BYTES + 4096, ...Array.from({ length: 9 }, (_, i) => 300 + 97 * i)].map(bytes);
    const kept: { remote: string; commitId: string; objects: WireObject[] }[] = [];
    let repoNumber = 0;

    const clone = async (remote: string, commitId: string, objects: WireObject[]) => {
      const res = await wire(gw, 'POST', `${remote}/fetch`, { want: [commitId], have: [] });
      expect(res.status, `${remote}: ${JSON.stringify(res.body)}`).toBe(200);
      const got = new Map<string, Buffer>(
        res.body.objects.map((o: { object_id: string; content: Uint8Array }) => [o.object_id, Buffer.from(o.content)]),
      );
      expect(got.size).toBe(objects.length);
      for (const o of objects) expect(got.get(o.object_id)?.equals(o.content), `${remote} ${o.object_id}`).toBe(true);
    };
    const pushSubset = async () => {
      const repo = await createRepo(gw, token, { name: `race ${++repoNumber}`, visibility: 'public' });
      const remote = `/alice/${repo.slug}`;
      const files: Record<string, Buffer> = {};
      for (const [i, content] of pool.entries()) if (random() < 0.5) files[`file-${i}`] = content;
      files.first = pool[repoNumber % pool.length]!;
      const { snapshot, objects } = makeSnapshot(files);
      const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
      const pushed = await pushLikeMuse(gw, remote, token, { commits: [commit], snapshots: [snapshot], objects });
      expect(pushed.status, `${remote}: ${JSON.stringify(pushed.body)}`).toBe(200);
      const unique = [...new Map(objects.map((o) => [o.object_id, o])).values()];
      await clone(remote, commit.commit_id, unique);
      return { repoId: repo.repoId, slug: repo.slug, remote, commitId: commit.commit_id, objects: unique };
    };
    const purge = async (r: { repoId: string; slug: string }) => {
      expect((await gw.request('DELETE', `/api/v1/repos/${r.repoId}`, { token })).status).toBe(204);
      expect((await gw.request('POST', `/api/v1/user/deleted-repos/alice/${r.slug}/purge`, { token })).status).toBe(
        200,
      );
    };

    // Round 0 makes the whole pool garbage.
    await purge(await pushSubset());
    let removed = 0;
    let collections = 0;
    for (let round = 0; round < ROUNDS; round++) {
      let pushing = true;
      const collector = (async () => {
        while (pushing) {
          const report = await collectGarbage(gw.orm, gw.store, { graceMs: 0 });
          expect(report).not.toBeNull();
          removed += report!.removed.objects;
          collections++;
        }
      })();
      const pushed = await Promise.all(Array.from({ length: PUSHERS }, pushSubset)).finally(() => {
        pushing = false;
      });
      await collector;
      // The round's repos are purged, so the whole pool is garbage again when the next round
      // starts; the last round's stay, to be cloned at the end.
      if (round < ROUNDS - 1) for (const r of pushed) await purge(r);
      else kept.push(...pushed);
    }
    // A final collection removes the last round's garbage.
    removed += (await collectGarbage(gw.orm, gw.store, { graceMs: 0 }))!.removed.objects;

    console.log(`gc race (${store}): ${collections} collections removed ${removed} copies over ${ROUNDS} rounds`);
    // The race was run, not avoided: collections removed pool bytes round after round, that
    // pushes brought back.
    expect(removed).toBeGreaterThan(2 * pool.length);
    await gw.expectIntegrity();
    for (const r of kept) await clone(r.remote, r.commitId, r.objects);
  });
});
