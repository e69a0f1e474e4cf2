import fc from 'fast-check';

/** The seed CI runs with, so a landing cannot pass or fail by chance. */
export const DEFAULT_FUZZ_SEED = 20261129;

/**
 * The fast-check seed for this run: FUZZ_SEED=<n> replays a failure, FUZZ_SEED=random explores,
 * unset means the fixed default. Printed so any run can be replayed.
 */
export function fuzzSeed(raw = process.env.FUZZ_SEED): number {
  if (raw === undefined || raw === '') return DEFAULT_FUZZ_SEED;
  if (raw === 'random') return (Math.random() * 2 ** 31) | 0;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`FUZZ_SEED must be an integer or "random", not ${JSON.stringify(raw)}`);
  return n | 0;
}

/** fc.assert with the run's seed; a failure says how to replay it (fast-check adds the counterexample). */
export async function assertProperty<T>(seed: number, property: fc.IAsyncProperty<T>, numRuns: number) {
  try {
    await fc.assert(property, { seed, numRuns });
  } catch (err) {
    (err as Error).message += `\nReplay with: FUZZ_SEED=${seed} npx vitest run test/fuzz`;
    throw err;
  }
}
