import { DeadlockException } from '@mikro-orm/core';

const isDeadlock = (err: unknown) =>
  err instanceof DeadlockException || (err as { code?: string } | undefined)?.code === '40P01';

/**
 * Runs a whole transaction again when PostgreSQL broke a deadlock by aborting it: the
 * transaction rolled back completely, so a retry is safe, and the other party has moved on.
 */
export async function retryOnDeadlock<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !isDeadlock(err)) throw err;
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
    }
  }
}
