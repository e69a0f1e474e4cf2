import type { EntityManager } from '@mikro-orm/postgresql';
import { BadRequestError, FetchTooLargeError, repoNotFound } from '../errors.ts';
import { type CloneParts, repoStoredParts } from '../history/clone-size.ts';
import {
  branchHeads,
  objectsToSend,
  repoCommits,
  snapshotRecordBytes,
  snapshotRecords,
  type WalkedCommit,
  walkCommits,
} from '../history/history.store.ts';
import { isLive } from '../repos/live-repo.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { packr } from './codec.ts';
import type { IdSet } from './fetch-body.ts';
import {
  type FetchObject,
  type FramedObjects,
  objectItemHeaderLength,
  putObjectItemHeader,
  writeFetchResponse,
} from './fetch-writer.ts';
import { CLIENT_RESPONSE_LIMIT, responseBytes } from './response-size.ts';

export interface PlannedObject {
  object_id: string;
  size: number;
}

export interface FetchPlan {
  /** The commits to send, in walk order (newest generation first), with their stored records. */
  commits: WalkedCommit[];
  snapshotIds: string[];
  /**
   * Started by planFetch and awaited where the response needs them: a clone's first bytes
   * need neither (its size is bounded by the repo's, see checkSize).
   */
  objects: Promise<PlannedObject[]>;
  branchHeads: Promise<Record<string, string>>;
  /** For a clone: the size of everything the repo stores, the bound its answer cannot exceed. */
  repoBound: Promise<CloneParts> | null;
  /** No `have`: the client holds nothing of this history (a clone). */
  clone: boolean;
}

/**
 * Every commit reachable from `want` without passing through `have`, in one recursive query;
 * their snapshots; and the objects those snapshots name, less those the `have` commits'
 * snapshots already gave the client.
 */
export async function planFetch(em: EntityManager, repoId: string, want: string[], have: IdSet): Promise<FetchPlan> {
  // The liveness check (the cache that resolved the repo may be a moment stale), the walk and
  // what the answer needs only later all run at once; nothing read is used, or awaited, before
  // the repo is known to be live, so a repo deleted meanwhile is still the never-existed 404.
  const live = isLive(em, repoId);
  const heads = branchHeads(em, repoId);
  const repoBound = have.size === 0 ? repoStoredParts(em, repoId) : null;
  const wanted = [...new Set(want)].filter((id) => !have.has(id));
  const walked = newCommits(em, repoId, wanted, have);
  for (const p of [live, heads, repoBound, walked]) p?.catch(() => undefined);
  if (!(await live)) throw repoNotFound();
  const commits = await walked;
  const found = new Set(commits.map((c) => c.commit_id));
  const unknown = wanted.filter((id) => !found.has(id));
  if (unknown.length) {
    throw new BadRequestError(
      `want names commits this repo does not have: ${unknown.slice(0, 3).join(', ')}`,
      'unknown_commit',
    );
  }
  const snapshotIds = [...new Set(commits.map((c) => c.snapshot_id).filter((s): s is string => !!s))];
  // The client holds everything reachable from `have`; the walk stopped at the `have` commits
  // it reached (the boundary), so their snapshots are what it holds of the objects these
  // commits name. Asking about the boundary only keeps the cost proportional to what is new,
  // not to the client's whole history; an object the client has from an older snapshot is at
  // worst sent again.
  const boundary = [
    ...new Set(
      commits.flatMap((c) => [c.parent_commit_id, c.parent2_commit_id]).filter((p): p is string => !!p && have.has(p)),
    ),
  ];
  const objects = objectsToSend(em, repoId, snapshotIds, boundary).then((rows) =>
    rows.map((o) => ({ object_id: o.object_id, size: Number(o.size) })),
  );
  // Awaited later (or never, when the answer is refused first): not unhandled meanwhile.
  objects.catch(() => undefined);
  return {
    commits,
    snapshotIds,
    objects,
    branchHeads: heads,
    repoBound,
    clone: have.size === 0,
  };
}

/** Up to this many commits, a clone reads the repo's commits whole rather than walking in SQL. */
const SCAN_COMMITS_UP_TO = 20_000;

/**
 * The commits reachable from `want` without passing through `have`, breadth-first (newest
 * generation first). A clone reads the repo's commits in one scan and walks them in memory. An
 * incremental fetch walks a bounded number of commits at a time (64, then four times more each
 * round) and stops at `have` here, in memory: its cost follows what is new, not the length of
 * the client's history.
 */
async function newCommits(
  em: EntityManager,
  repoId: string,
  want: readonly string[],
  have: IdSet,
): Promise<WalkedCommit[]> {
  if (!have.size) {
    // A clone: the repo's commits in one scan, walked here — unless the repo is too large for
    // that to be cheap, when the bounded walk below reads only what is reachable.
    const all = await repoCommits(em, repoId, SCAN_COMMITS_UP_TO + 1);
    if (all.length <= SCAN_COMMITS_UP_TO)
      return walkKnown(new Map(all.map((c) => [c.commit_id, c])), want, have).reached;
  }
  const known = new Map<string, WalkedCommit>();
  let from: readonly string[] = want;
  for (let limit = 64; ; limit *= 4) {
    const rows = await walkCommits(em, repoId, from, limit);
    for (const r of rows) known.set(r.commit_id, r);
    const { reached, unexplored } = walkKnown(known, want, have);
    // A walk that returned fewer rows than it could has seen all of history from `from`: what
    // is still unexplored then is not stored (an unknown `want`, reported by the caller).
    if (rows.length < limit || !unexplored.length) return reached;
    from = unexplored;
  }
}

/** Breadth-first from `want` over the commits read so far, not entering `have`. */
function walkKnown(known: ReadonlyMap<string, WalkedCommit>, want: readonly string[], have: IdSet) {
  const reached: WalkedCommit[] = [];
  const unexplored: string[] = [];
  const seen = new Set<string>();
  let frontier = [...want];
  while (frontier.length) {
    const next: string[] = [];
    for (const id of frontier) {
      if (seen.has(id) || have.has(id)) continue;
      seen.add(id);
      const row = known.get(id);
      if (!row) {
        unexplored.push(id);
        continue;
      }
      reached.push(row);
      for (const p of [row.parent_commit_id, row.parent2_commit_id]) if (p) next.push(p);
    }
    frontier = next;
  }
  return { reached, unexplored };
}

/**
 * Refuses, before a byte is sent, an answer that cannot fit the client's response limit. A
 * clone first tries the bound of everything the repo stores (three sums, no list of objects):
 * when even that fits, the response can start while its objects are still being planned.
 * Otherwise, and for incremental fetches (whose cost must follow what is new, not the repo),
 * the exact upper bound of this answer.
 */
async function checkSize(em: EntityManager, repoId: string, plan: FetchPlan, commitBytes: number): Promise<void> {
  const branchCount = Object.keys(await plan.branchHeads).length;
  if (plan.repoBound && responseBytes({ ...(await plan.repoBound), branchCount }) <= CLIENT_RESPONSE_LIMIT) return;
  const [objects, snapshotBytes] = await Promise.all([plan.objects, snapshotRecordBytes(em, repoId, plan.snapshotIds)]);
  const total = responseBytes({
    objectBytes: objects.reduce((n, o) => n + o.size, 0),
    objectCount: objects.length,
    recordBytes: commitBytes + snapshotBytes,
    branchCount,
  });
  if (total > CLIENT_RESPONSE_LIMIT) throw new FetchTooLargeError(total, plan.clone);
}

/** Refuses (see checkSize) before anything is sent. */
function checkPlan(em: EntityManager, repoId: string, plan: FetchPlan): Promise<void> {
  return checkSize(
    em,
    repoId,
    plan,
    plan.commits.reduce((n, c) => n + c.record.length, 0),
  );
}

/**
 * Snapshot records a page at a time, the next pages read while this one is sent (a page of
 * 250 is about a megabyte of records for the reference repo; reading them one after another
 * held the objects back by ~40 ms).
 */
async function* snapshotPages(em: EntityManager, repoId: string, ids: readonly string[], page = 250, ahead = 2) {
  const pages: Promise<{ record: Buffer }[]>[] = [];
  let queued = 0;
  const queue = () => {
    while (pages.length <= ahead && queued < ids.length) {
      const rows = snapshotRecords(em, repoId, ids.slice(queued, queued + page));
      rows.catch(() => undefined); // awaited in order below
      pages.push(rows);
      queued += page;
    }
  };
  queue();
  while (pages.length) {
    const rows = await pages.shift()!;
    queue();
    for (const r of rows) yield r.record;
  }
}

/**
 * The fetch response as a msgpack byte stream (writeFetchResponse): object bytes are read from
 * the store a few at a time as the client drains the stream (pull-based, so a slow client
 * holds the read-ahead window, not the repo).
 */
export async function fetchResponseStream(
  em: EntityManager,
  store: ObjectStore,
  repoId: string,
  plan: FetchPlan,
): Promise<ReadableStream<Uint8Array>> {
  await checkPlan(em, repoId, plan);
  // The first object bytes are read as soon as the list is known, while commits and
  // snapshots are still being sent.
  const reader = plan.objects.then(async (list) => objectPieces(store, await arranged(store, list)));
  const objectCount = plan.objects.then((list) => list.length);
  // Awaited by the writer when it gets there; if it never does (an earlier failure, a client
  // gone), a failed plan must not surface as an unhandled rejection.
  for (const p of [reader, objectCount]) p.catch(() => undefined);
  // A store across the network can fail while the database answers: its first batch is read
  // before the answer starts, so an outage is a 503 rather than a 200 cut off midway.
  const first = store.remote ? await (await reader).next() : undefined;
  async function* objects(): AsyncGenerator<FetchObject | FramedObjects> {
    const rest = await reader;
    if (first) {
      if (first.done) return;
      yield first.value;
    }
    yield* rest;
  }
  const chunks = writeFetchResponse(
    {
      commits: plan.commits.map((c) => c.record),
      snapshots: snapshotPages(em, repoId, plan.snapshotIds),
      snapshotCount: plan.snapshotIds.length,
      branchHeads: plan.branchHeads,
    },
    objectCount,
    objects(),
  );
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
}

type StoredRow = { object_id: string; size: number };

/**
 * Objects in plan order, read a batch at a time (at most `count` objects and about `bytes`
 * bytes, always at least one), the first batch from the call on and the next one while this
 * one is consumed: a clone is not one store round trip per object, and memory stays bounded by
 * two batches, not the repo.
 */
function batchesAhead<R>(
  objects: readonly StoredRow[],
  window: { count: number; bytes: number },
  read: (batch: StoredRow[]) => Promise<R>,
): AsyncGenerator<[StoredRow[], R]> {
  let next = 0;
  const startBatch = () => {
    if (next >= objects.length) return null;
    const start = next;
    let bytes = objects[next++]!.size;
    while (next < objects.length && next - start < window.count && bytes + objects[next]!.size <= window.bytes) {
      bytes += objects[next++]!.size;
    }
    const batch = objects.slice(start, next);
    const result = read(batch);
    result.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
    return { batch, result };
  };
  // The first batch is read from the call on, not from the first next().
  let current = startBatch();
  return (async function* () {
    while (current) {
      const ahead = startBatch();
      yield [current.batch, await current.result] as [StoredRow[], R];
      current = ahead;
    }
  })();
}

/** Each object's bytes in plan order (see batchesAhead). */
export function readAhead(
  store: ObjectStore,
  objects: readonly StoredRow[],
  window = store.readBatch,
): AsyncGenerator<[StoredRow, Buffer]> {
  const batches = batchesAhead(objects, window, (b) => store.getMany(b));
  return (async function* () {
    for await (const [batch, bytes] of batches) {
      for (let i = 0; i < batch.length; i++) yield [batch[i]!, bytes[i]!] as [StoredRow, Buffer];
    }
  })();
}

/**
 * The `objects` items of a fetch: where the store can leave room before each object, a batch
 * is framed in place and leaves as one buffer (measured on the reference clone: the per-object
 * copy, chunk allocation and generator step were ~20 % of its CPU); otherwise object by object.
 * Started from the call on, like readAhead, so the first batch is on its way while records go out.
 */
function objectPieces(store: ObjectStore, objects: readonly StoredRow[]): AsyncGenerator<FetchObject | FramedObjects> {
  const withRoom = store.getManyWithRoom?.bind(store);
  if (!withRoom) {
    const each = readAhead(store, objects);
    return (async function* () {
      for await (const [o, bytes] of each) yield { objectId: o.object_id, bytes };
    })();
  }
  const framed = batchesAhead(objects, store.readBatch, async (batch) => {
    const room = batch.map((o) => objectItemHeaderLength(o.object_id, o.size));
    const { buffer, starts } = await withRoom(batch, room);
    for (let i = 0; i < batch.length; i++) {
      putObjectItemHeader(buffer, starts[i]! - room[i]!, batch[i]!.object_id, batch[i]!.size);
    }
    return buffer;
  });
  return (async function* () {
    for await (const [batch, frames] of framed) yield { frames, count: batch.length };
  })();
}

/** The objects in the order the store reads them cheapest (a fetch's answer may list them in any order). */
const arranged = <T extends { object_id: string }>(store: ObjectStore, list: readonly T[]) =>
  store.arrange ? store.arrange(list) : Promise.resolve(list);

/** The same response as a plain value, for JSON clients (curl, scripts). */
export async function fetchResponseValue(em: EntityManager, store: ObjectStore, repoId: string, plan: FetchPlan) {
  await checkPlan(em, repoId, plan);
  const snapshots = await snapshotRecords(em, repoId, plan.snapshotIds);
  const objects = [];
  for await (const [o, content] of readAhead(store, await arranged(store, await plan.objects))) {
    objects.push({ object_id: o.object_id, content });
  }
  return {
    commits: plan.commits.map((c) => packr.unpack(c.record)),
    snapshots: snapshots.map((s) => packr.unpack(s.record)),
    objects,
    branch_heads: await plan.branchHeads,
  };
}
