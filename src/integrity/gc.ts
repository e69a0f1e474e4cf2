import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { runSql } from '../db/sql.ts';
import { tryExcludeStoreWrites, tryHoldGcRun } from '../db/store-lock.ts';
import type { ObjectStore, StoredObject } from '../storage/object-store.ts';

/**
 * Garbage collection of object bytes: mark, then sweep under the store's write lock.
 *
 * Mark lists every copy the store holds and asks which objects no musehub_objects row names
 * (live or deleted-but-restorable repos alike: only a purge removes rows). Sweep then, batch by
 * batch, takes the store's write lock exclusively (db/store-lock.ts), asks again — a push may have
 * named an object since — and removes what is still unnamed: copies stored alone, packs rewritten
 * without their unnamed objects (small packs merged on the way), then packs and index files
 * nothing reads. Copies stored within the grace period are never touched: not for safety (the
 * lock gives that, even at grace 0), but so that an operator has a window and a half-finished
 * write outside the protocol is left alone. The why and the proofs: docs/storage-gc.md.
 */

/** A pack smaller than this is merged with others even when every object in it is named. */
const SMALL_PACK = 1024 * 1024;
/** A repack writes packs of at most about this much: the write lock is held while one is written. */
const REPACK_BYTES = 32 * 1024 * 1024;
const REPACK_OBJECTS = 20_000;
/** Copies removed per hold of the write lock. */
const SWEEP_BATCH = 500;
/** The grace period when none is given (musehub gc, the schedule, fsck's report). */
export const DEFAULT_GRACE_MS = 3_600_000;
/** How long a sweep step waits for writers to let go of the lock before the run gives up. */
const LOCK_WAIT_MS = 60_000;
/** Staged uploads younger than this are kept whatever the grace: a client may still push them. */
const STAGING_MIN_AGE_MS = 24 * 3_600_000;

export interface GcOptions {
  /** Copies stored more recently than this are kept even when nothing names them. */
  graceMs: number;
  /** Report what would go; change nothing and take no lock. */
  dryRun?: boolean;
  /** Called as each step finishes (the CLI shows it on a terminal). */
  progress?: (message: string) => void;
}

export interface Tally {
  objects: number;
  bytes: number;
}

export interface GcReport {
  dryRun: boolean;
  graceSeconds: number;
  /** Copies of unnamed objects removed (or, in a dry run, that would be): alone, and inside rewritten packs. */
  removed: Tally;
  /** Unnamed copies kept because they are younger than the grace period. */
  young: Tally;
  /** Packs rewritten (retired) and the packs written in their place. */
  packs: { retired: number; written: number };
  /** Packs and index files no index names, and temp files of dead writers. */
  orphans: { files: number; bytes: number };
  /** Expired uploads in the store's staging area (S3); null for stores without one. */
  staging: { removed: number; kept: number } | null;
  seconds: number;
}

export interface PackInfo {
  name: string;
  bytes: number;
  copies: { objectId: string; size: number; named: boolean }[];
}

/** Another collection is running (the run lock), or writers never let go of the store lock. */
export class GcBusyError extends Error {}

/**
 * One collection; null when another process's collection holds the cluster-wide run lock. The run
 * lock's transaction stays open for the run (it holds nothing else); each sweep step is its own
 * short transaction.
 */
export async function collectGarbage(orm: MikroORM, store: ObjectStore, opts: GcOptions): Promise<GcReport | null> {
  return own(orm).transactional(async (runTx) => {
    if (!(await tryHoldGcRun(runTx))) return null;
    return new Collection(orm, store, opts).run();
  });
}

/** An EntityManager outside any transaction the caller is in (each sweep step commits alone). */
const own = (orm: MikroORM) => orm.em.fork({ disableContextResolution: true });

class Collection {
  private readonly started = performance.now();
  private readonly cutoff: Date;
  private readonly report: GcReport;

  constructor(
    private readonly orm: MikroORM,
    private readonly store: ObjectStore,
    private readonly opts: GcOptions,
  ) {
    this.cutoff = new Date(Date.now() - opts.graceMs);
    this.report = {
      dryRun: !!opts.dryRun,
      graceSeconds: opts.graceMs / 1000,
      removed: { objects: 0, bytes: 0 },
      young: { objects: 0, bytes: 0 },
      packs: { retired: 0, written: 0 },
      orphans: { files: 0, bytes: 0 },
      staging: null,
      seconds: 0,
    };
  }

  async run(): Promise<GcReport> {
    const { alone, packs } = await this.mark();
    this.say(`marked: ${alone.length} unnamed object(s) stored alone, ${packs.length} pack(s) to rewrite`);
    await this.sweepAlone(alone);
    await this.repack(packs);
    if (!this.opts.dryRun) {
      this.report.orphans = await this.exclusive(() => this.store.deleteOrphans(this.cutoff));
      this.say(`removed ${this.report.orphans.files} orphan file(s)`);
      const staging = this.store.directUploads;
      if (staging) {
        const before = new Date(Date.now() - Math.max(this.opts.graceMs, STAGING_MIN_AGE_MS));
        this.report.staging = await staging.sweep(before, Number.MAX_SAFE_INTEGER);
      }
    }
    this.report.seconds = (performance.now() - this.started) / 1000;
    return this.report;
  }

  private say(message: string) {
    this.opts.progress?.(message);
  }

  /** Unnamed copies stored alone, and the packs worth rewriting, as of now. */
  private async mark(): Promise<{ alone: { objectId: string; size: number }[]; packs: PackInfo[] }> {
    const found = await markUnnamed(own(this.orm), this.store, this.cutoff);
    this.report.young = found.young;
    const wasteful = found.packs.filter((p) => p.copies.some((c) => !c.named));
    const small = found.packs.filter((p) => p.bytes < SMALL_PACK && !wasteful.includes(p));
    // One small pack alone is already as merged as it gets.
    return { alone: found.alone, packs: wasteful.length + small.length > 1 ? [...wasteful, ...small] : wasteful };
  }

  private async sweepAlone(alone: readonly { objectId: string; size: number }[]) {
    const sizes = new Map(alone.map((o) => [o.objectId, o.size]));
    for (let i = 0; i < alone.length; i += SWEEP_BATCH) {
      const ids = alone.slice(i, i + SWEEP_BATCH).map((o) => o.objectId);
      const gone = this.opts.dryRun
        ? ids
        : await this.exclusive(async (tx) => {
            const named = await namedAmong(tx, ids);
            const unnamed = ids.filter((id) => !named.has(id));
            await this.store.deleteAlone(unnamed);
            return unnamed;
          });
      for (const id of gone) {
        this.report.removed.objects++;
        this.report.removed.bytes += sizes.get(id)!;
      }
    }
    if (alone.length) this.say(`removed ${this.report.removed.objects} object(s) stored alone`);
  }

  /** Packs in groups of about REPACK_BYTES, each group rewritten as one pack of what is named. */
  private async repack(packs: readonly PackInfo[]) {
    if (!packs.length || !this.store.repack) return;
    const groups: PackInfo[][] = [[]];
    let bytes = 0;
    let objects = 0;
    for (const pack of packs) {
      if (
        groups.at(-1)!.length &&
        (bytes + pack.bytes > REPACK_BYTES || objects + pack.copies.length > REPACK_OBJECTS)
      ) {
        groups.push([]);
        bytes = 0;
        objects = 0;
      }
      groups.at(-1)!.push(pack);
      bytes += pack.bytes;
      objects += pack.copies.length;
    }
    for (const group of groups) {
      const copies = new Map<string, { objectId: string; size: number; named: boolean }>();
      for (const c of group.flatMap((p) => p.copies)) copies.set(c.objectId, c);
      const ids = [...copies.keys()];
      const keep = this.opts.dryRun
        ? ids.filter((id) => copies.get(id)!.named)
        : await this.exclusive(async (tx) => {
            const named = await namedAmong(tx, ids);
            const kept = ids.filter((id) => named.has(id));
            await this.store.repack!(
              kept.map((id) => ({ objectId: id, size: copies.get(id)!.size })),
              group.map((p) => p.name),
            );
            return kept;
          });
      const kept = new Set(keep);
      for (const c of group.flatMap((p) => p.copies)) {
        if (kept.has(c.objectId)) continue;
        this.report.removed.objects++;
        this.report.removed.bytes += c.size;
      }
      this.report.packs.retired += group.length;
      if (keep.length) this.report.packs.written++;
    }
    this.say(`rewrote ${this.report.packs.retired} pack(s) as ${this.report.packs.written}`);
  }

  /**
   * `work` in a transaction holding the store's write lock exclusively. The lock is only tried,
   * never waited for in the queue (see tryExcludeStoreWrites): between tries, writers go on.
   * Store calls that write rows (postgres blobs, the S3 pack index) find this transaction through
   * the ORM's context, so they commit with the re-check that allowed them.
   */
  private async exclusive<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let pause = 2; ; pause = Math.min(pause * 2, 200)) {
      const done = await own(this.orm).transactional(async (tx) =>
        (await tryExcludeStoreWrites(tx)) ? { value: await work(tx) } : null,
      );
      if (done) return done.value;
      if (Date.now() > deadline) {
        throw new GcBusyError(`writers held the object store for ${LOCK_WAIT_MS / 1000} s; run gc again later`);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

export interface Unnamed {
  /** Unnamed copies stored alone, older than the cutoff. */
  alone: { objectId: string; size: number }[];
  /** Packs stored before the cutoff, each copy in them marked named or not. */
  packs: PackInfo[];
  /** Unnamed copies younger than the cutoff (kept). */
  young: Tally;
}

/**
 * Mark: every copy the store holds, against the rows that name objects (a batch of ids per
 * query). What is unnamed now may be named by the time a sweep step runs: sweeps ask again.
 */
export async function markUnnamed(em: EntityManager, store: ObjectStore, cutoff: Date): Promise<Unnamed> {
  const found: Unnamed = { alone: [], packs: [], young: { objects: 0, bytes: 0 } };
  const packs = new Map<string, PackInfo & { storedAt: Date }>();
  let batch: StoredObject[] = [];
  const flush = async () => {
    const named = await namedAmong(
      em,
      batch.map((c) => c.objectId),
    );
    for (const c of batch) {
      const isNamed = named.has(c.objectId);
      if (!isNamed && c.storedAt >= cutoff) {
        found.young.objects++;
        found.young.bytes += c.size;
      }
      if (c.pack === null) {
        if (!isNamed && c.storedAt < cutoff) found.alone.push({ objectId: c.objectId, size: c.size });
        continue;
      }
      const pack = packs.get(c.pack) ?? { name: c.pack, bytes: 0, copies: [], storedAt: c.storedAt };
      pack.bytes += c.size;
      pack.copies.push({ objectId: c.objectId, size: c.size, named: isNamed });
      packs.set(c.pack, pack);
    }
    batch = [];
  };
  for await (const copy of store.listStored()) {
    batch.push(copy);
    if (batch.length >= SWEEP_BATCH) await flush();
  }
  if (batch.length) await flush();
  found.packs = [...packs.values()].filter((p) => p.storedAt < cutoff);
  return found;
}

/** Objects and bytes GC would free now: unnamed copies older than the cutoff, alone or in packs. */
export function reclaimable(found: Unnamed): Tally {
  const copies = [...found.alone, ...found.packs.flatMap((p) => p.copies.filter((c) => !c.named))];
  return { objects: copies.length, bytes: copies.reduce((n, c) => n + c.size, 0) };
}

/** Which of `ids` some repo row names (live or deleted: only a purge removes rows). */
async function namedAmong(em: EntityManager, ids: readonly string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const rows = await runSql<{ id: string }>(
    em,
    `SELECT x.id FROM jsonb_array_elements_text(?::jsonb) AS x(id)
      WHERE EXISTS (SELECT 1 FROM musehub_objects o WHERE o.object_id = x.id)`,
    [JSON.stringify([...new Set(ids)])],
  );
  return new Set(rows.map((r) => r.id));
}
