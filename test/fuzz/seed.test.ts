import fc from 'fast-check';
import { expect, test } from 'vitest';
import { assertProperty, DEFAULT_FUZZ_SEED, fuzzSeed } from './seed.ts';

test('the seed is fixed unless FUZZ_SEED says otherwise', () => {
  expect(fuzzSeed(undefined)).toBe(DEFAULT_FUZZ_SEED);
  expect(fuzzSeed('')).toBe(DEFAULT_FUZZ_SEED);
  expect(fuzzSeed('929093964')).toBe(929093964);
  expect(fuzzSeed('random')).toEqual(expect.any(Number));
  expect(() => fuzzSeed('soon')).toThrow(/FUZZ_SEED must be an integer/);
});

test('the same seed draws the same cases; a failure names the seed and the shrunk counterexample', async () => {
  const draw = async (seed: number) => {
    const seen: number[] = [];
    await assertProperty(
      seed,
      fc.asyncProperty(fc.integer(), async (n) => void seen.push(n)),
      20,
    );
    return seen;
  };
  expect(await draw(7)).toEqual(await draw(7));
  expect(await draw(7)).not.toEqual(await draw(8));
  const failing = assertProperty(
    42,
    fc.asyncProperty(fc.integer({ min: 0, max: 1000 }), async (n) => {
      if (n >= 10) throw new Error('too big');
    }),
    100,
  );
  await expect(failing).rejects.toThrow(/seed: 42[\s\S]*Counterexample: \[10\][\s\S]*FUZZ_SEED=42/);
});
