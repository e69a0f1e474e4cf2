import type { EntityManager } from '@mikro-orm/postgresql';
import { runSql } from './sql.ts';

/**
 * The object store's write lock, one PostgreSQL advisory lock for the whole cluster (see
 * docs/storage-gc.md). A writer holds it shared from before it stores bytes — or decides it need
 * not, because the store already holds them — until the rows that name those bytes commit.
 * Garbage collection holds it exclusively while it re-checks that no row names what it is about to
 * remove, and removes it. So a push that deduplicates against bytes GC is collecting either
 * commits its rows first (GC's re-check then sees them and keeps the bytes) or waits until GC is
 * done (and then stores the bytes again): no row can ever name missing bytes.
 */
const STORE_LOCK = 'musehub-store-writes';

/** Shared, until the transaction ends: held by every write of object bytes and their rows. */
export async function holdStoreWrites(tx: EntityManager): Promise<void> {
  await runSql(tx, 'SELECT pg_advisory_xact_lock_shared(hashtextextended(?, 0))', [STORE_LOCK]);
}

/**
 * Exclusive, until the transaction ends, if no writer holds it now. A try, never a wait: a waiting
 * exclusive request would queue every new push behind it (PostgreSQL grants locks in order), so
 * one slow push would stall all of them for as long as GC waits.
 */
export async function tryExcludeStoreWrites(tx: EntityManager): Promise<boolean> {
  const [row] = await runSql<{ locked: boolean }>(
    tx,
    'SELECT pg_try_advisory_xact_lock(hashtextextended(?, 0)) AS locked',
    [STORE_LOCK],
  );
  return row!.locked;
}

/** One collection at a time in the cluster (scheduled in the gateway or run by the CLI). */
export async function tryHoldGcRun(tx: EntityManager): Promise<boolean> {
  const [row] = await runSql<{ locked: boolean }>(
    tx,
    'SELECT pg_try_advisory_xact_lock(hashtextextended(?, 0)) AS locked',
    ['musehub-gc-run'],
  );
  return row!.locked;
}
