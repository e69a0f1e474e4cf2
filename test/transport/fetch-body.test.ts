import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { expect, test } from 'vitest';
import { readFetchBody } from '../../src/transport/fetch-body.ts';
import { LIMITS } from '../../src/transport/wire-schemas.ts';
import { wirePackr } from '../helpers/muse.ts';

/**
 * The in-place reader of a fetch body (src/transport/fetch-body.ts): for the shape the muse
 * client sends it answers exactly what decoding the body would, and for anything else it answers
 * null, so that the general decoder gives the detailed refusal.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const id = (n: number) => createHash('sha256').update(`commit ${n}`).digest('hex');
const ids = (from: number, count: number) => Array.from({ length: count }, (_, i) => id(from + i));
// msgpackr writes a two-key map as map16; Python's msgpack (the muse client) as a fixmap.
const fixmapPackr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

test(`membership answers as a Set of the decoded ids would, for any have and any probes (seed ${SEED})`, () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 300 }),
      fc.array(fc.integer({ min: 0, max: 600 }), { maxLength: 80 }),
      fc.boolean(),
      (haveCount, probes, fixmap) => {
        const want = [id(10_000)];
        const have = ids(0, haveCount);
        const body = (fixmap ? fixmapPackr : wirePackr).pack(fixmap ? { have, want } : { want, have });
        const read = readFetchBody(new Uint8Array(body));
        expect(read).not.toBeNull();
        expect(read!.want).toEqual(want);
        expect(read!.have.size).toBe(haveCount);
        const reference = new Set(have);
        // More probes than the in-place search serves: the reader switches to a Set midway.
        for (const n of probes) expect(read!.have.has(id(n))).toBe(reference.has(id(n)));
        expect(read!.have.ids()).toEqual(have);
      },
    ),
    { seed: SEED, numRuns: 60 },
  );
});

test('a body of another shape is left to the general decoder (null), never half-read', () => {
  const want = [id(1)];
  const have = ids(2, 3);
  const others: [string, unknown][] = [
    ['an id that is not lowercase hex', { want, have: [...have, id(9).toUpperCase()] }],
    ['an id of the wrong length', { want, have: [...have, 'abc'] }],
    ['a number among the ids', { want, have: [...have, 7] }],
    ['an extra key', { want, have, depth: 1 }],
    ['no have', { want }],
    ['an empty want', { want: [], have }],
    ['too many wants', { want: ids(100, LIMITS.want + 1), have }],
    ['want that is not a list', { want: id(1), have }],
    ['an unknown key instead of have', { want, hav3: have }],
    ['not a map', [want, have]],
  ];
  for (const [what, value] of others) expect(readFetchBody(new Uint8Array(wirePackr.pack(value))), what).toBeNull();
  const good = new Uint8Array(wirePackr.pack({ want, have }));
  expect(readFetchBody(good)).not.toBeNull();
  expect(readFetchBody(Buffer.concat([good, Buffer.from([0xc0])])), 'trailing bytes').toBeNull();
  for (let cut = 0; cut < good.length; cut += 7)
    expect(readFetchBody(good.subarray(0, cut)), `cut at ${cut}`).toBeNull();
});
