import { describe, expect, test } from 'vitest';
import {
  ChunkWriter,
  type FetchObject,
  type FramedObjects,
  objectItemHeaderLength,
  putObjectItemHeader,
  writeFetchResponse,
} from '../../src/transport/fetch-writer.ts';
import { wirePackr } from '../helpers/muse.ts';

const hex = (...bytes: number[]) => Buffer.from(bytes).toString('hex');
const written = (fn: (w: ChunkWriter) => void, chunkSize?: number) => {
  const w = new ChunkWriter(chunkSize);
  fn(w);
  return Buffer.concat(w.drain(true));
};

describe('headers take the smallest msgpack form at every size boundary', () => {
  test.each([
    ['map', 15, hex(0x8f)],
    ['map', 16, hex(0xde, 0x00, 0x10)],
    ['map', 65_535, hex(0xde, 0xff, 0xff)],
    ['map', 65_536, hex(0xdf, 0x00, 0x01, 0x00, 0x00)],
    ['array', 15, hex(0x9f)],
    ['array', 16, hex(0xdc, 0x00, 0x10)],
    ['array', 65_535, hex(0xdc, 0xff, 0xff)],
    ['array', 65_536, hex(0xdd, 0x00, 0x01, 0x00, 0x00)],
  ] as const)('%s of %i', (kind, n, expected) => {
    const out = written((w) => (kind === 'map' ? w.mapHeader(n) : w.arrayHeader(n)));
    expect(out.toString('hex')).toBe(expected);
  });

  test.each([
    [31, hex(0xbf)],
    [32, hex(0xd9, 0x20)],
    [255, hex(0xd9, 0xff)],
    [256, hex(0xda, 0x01, 0x00)],
    [65_535, hex(0xda, 0xff, 0xff)],
    [65_536, hex(0xdb, 0x00, 0x01, 0x00, 0x00)],
  ])('str of %i bytes', (n, header) => {
    const s = 'x'.repeat(n);
    const out = written((w) => w.str(s));
    expect(out.subarray(0, out.length - n).toString('hex')).toBe(header);
    expect(wirePackr.unpack(out)).toBe(s);
  });

  test.each([
    [0, hex(0xc4, 0x00)],
    [255, hex(0xc4, 0xff)],
    [256, hex(0xc5, 0x01, 0x00)],
    [65_535, hex(0xc5, 0xff, 0xff)],
    [65_536, hex(0xc6, 0x00, 0x01, 0x00, 0x00)],
  ])("an object item's header before %i content bytes, written in place or by the writer", (n, binHeader) => {
    const item = { object_id: 'f'.repeat(64), content: Buffer.alloc(n, 7) };
    const smallest = Buffer.concat([
      Buffer.from([0x82, 0xa9]),
      Buffer.from('object_id'),
      Buffer.from([0xd9, 64]),
      Buffer.from(item.object_id),
      Buffer.from([0xa7]),
      Buffer.from('content'),
      Buffer.from(binHeader, 'hex'),
    ]);
    const length = objectItemHeaderLength(item.object_id, n);
    expect(length).toBe(smallest.length);
    const out = Buffer.alloc(length + 2, 0xee);
    expect(putObjectItemHeader(out, 1, item.object_id, n)).toBe(1 + length);
    expect(out.subarray(1, 1 + length).equals(smallest)).toBe(true);
    expect([out[0], out[length + 1]]).toEqual([0xee, 0xee]); // nothing written outside its room
    expect(wirePackr.unpack(Buffer.concat([smallest, item.content]))).toEqual(item);
    for (const chunkSize of [64, 256 * 1024]) {
      expect(written((w) => w.objectItemHeader(item.object_id, n), chunkSize).equals(smallest)).toBe(true);
    }
  });

  test('a string is measured in UTF-8 bytes, not characters', () => {
    const s = 'ü'.repeat(16); // 16 characters, 32 bytes: str8, not fixstr
    expect(
      written((w) => w.str(s))
        .subarray(0, 2)
        .toString('hex'),
    ).toBe(hex(0xd9, 32));
  });
});

async function collect(gen: AsyncGenerator<Uint8Array>) {
  const chunks: Uint8Array[] = [];
  for await (const c of gen) chunks.push(c);
  return chunks;
}

async function* from(objects: FetchObject[]) {
  for (const o of objects) yield o;
}

const object = (i: number, size: number): FetchObject => ({
  objectId: i.toString(16).padStart(64, '0'),
  bytes: Buffer.alloc(size, i % 251),
});

describe('writeFetchResponse', () => {
  const sizes = [0, 1, 15, 16, 255, 256, 65_535, 65_536, 200_000];
  const records = {
    commits: Array.from({ length: 16 }, (_, i) => wirePackr.pack({ commit_id: `c${i}`, unknown_future_key: [i] })),
    snapshots: Array.from({ length: 15 }, (_, i) => wirePackr.pack({ snapshot_id: `s${i}`, manifest: {} })),
    snapshotCount: 15,
    branchHeads: { main: 'a'.repeat(64), ['b'.repeat(31)]: 'c'.repeat(64), ['é'.repeat(200)]: 'd'.repeat(64) },
  };
  const objects = sizes.map((n, i) => object(i, n));

  test.each([64, 1000, 256 * 1024])('decodes to the same value with %i-byte chunks', async (chunkSize) => {
    const chunks = await collect(writeFetchResponse(records, objects.length, from(objects), chunkSize));
    const decoded = wirePackr.unpack(Buffer.concat(chunks));
    expect(Object.keys(decoded)).toEqual(['commits', 'snapshots', 'objects', 'branch_heads']);
    expect(decoded.commits).toEqual(records.commits.map((c) => wirePackr.unpack(c)));
    expect(decoded.snapshots).toEqual(records.snapshots.map((x) => wirePackr.unpack(x)));
    expect(decoded.objects.map((o: { object_id: string }) => o.object_id)).toEqual(objects.map((o) => o.objectId));
    decoded.objects.forEach((o: { content: Uint8Array }, i: number) => {
      expect(Buffer.from(o.content).equals(Buffer.from(objects[i]!.bytes))).toBe(true);
    });
    expect(decoded.branch_heads).toEqual(records.branchHeads);
    // Few hand-offs: chunks are filled to within a header's length of full, except the one
    // before each large object (which goes out whole) and the last.
    const large = objects.filter((o) => o.bytes.length >= chunkSize / 2).length;
    const total = chunks.reduce((n, c) => n + c.length, 0);
    expect(chunks.length).toBeLessThanOrEqual(Math.ceil(total / (chunkSize - 4)) + 2 * large + 1);
  });

  test('a large object is handed off without a copy, as views of at most 1 MiB over its own bytes', async () => {
    const big = object(1, 2.5 * 1024 * 1024);
    const chunks = await collect(
      writeFetchResponse({ commits: [], snapshots: [], snapshotCount: 0, branchHeads: {} }, 1, from([big])),
    );
    const views = chunks.filter((c) => c.buffer === big.bytes.buffer);
    expect(views.map((v) => v.length)).toEqual([1024 * 1024, 1024 * 1024, 0.5 * 1024 * 1024]);
    expect(Buffer.concat(views).equals(Buffer.from(big.bytes))).toBe(true);
  });

  test('objects framed in place by the caller and objects one by one make the same response', async () => {
    const frame = (group: FetchObject[]): FramedObjects => {
      const parts = group.flatMap((o) => {
        const header = Buffer.alloc(objectItemHeaderLength(o.objectId, o.bytes.length));
        putObjectItemHeader(header, 0, o.objectId, o.bytes.length);
        return [header, Buffer.from(o.bytes)];
      });
      return { frames: Buffer.concat(parts), count: group.length };
    };
    async function* mixed() {
      yield frame(objects.slice(0, 3));
      yield objects[3]!;
      yield frame(objects.slice(4));
    }
    const one = Buffer.concat(await collect(writeFetchResponse(records, objects.length, from(objects))));
    const other = Buffer.concat(await collect(writeFetchResponse(records, objects.length, mixed())));
    expect(other.equals(one)).toBe(true);
    await expect(collect(writeFetchResponse(records, objects.length - 1, mixed()))).rejects.toThrow(
      /more objects than the 8 announced/,
    );
  });

  test('16 and 65,536 objects and branch heads: array and map headers grow', async () => {
    for (const n of [16, 65_536]) {
      const many = Array.from({ length: n }, (_, i) => object(i, i % 3));
      const heads = Object.fromEntries(Array.from({ length: n }, (_, i) => [`b${i}`, 'e'.repeat(64)]));
      const out = Buffer.concat(
        await collect(
          writeFetchResponse({ commits: [], snapshots: [], snapshotCount: 0, branchHeads: heads }, n, from(many)),
        ),
      );
      const decoded = wirePackr.unpack(out);
      expect(decoded.objects).toHaveLength(n);
      expect(Object.keys(decoded.branch_heads)).toHaveLength(n);
    }
  });

  test('the announced snapshot count must match what the stream yields', async () => {
    const one = [wirePackr.pack({ snapshot_id: 's' })];
    await expect(
      collect(writeFetchResponse({ commits: [], snapshots: one, snapshotCount: 2, branchHeads: {} }, 0, from([]))),
    ).rejects.toThrow(/1 snapshots written, 2 announced/);
  });

  test('the announced object count must match what the stream yields', async () => {
    const two = [object(1, 1), object(2, 1)];
    await expect(
      collect(writeFetchResponse({ commits: [], snapshots: [], snapshotCount: 0, branchHeads: {} }, 1, from(two))),
    ).rejects.toThrow(/more objects than the 1 announced/);
    await expect(
      collect(writeFetchResponse({ commits: [], snapshots: [], snapshotCount: 0, branchHeads: {} }, 3, from(two))),
    ).rejects.toThrow(/2 objects written, 3 announced/);
  });
});
