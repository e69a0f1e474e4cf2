import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { FsObjectStore } from '../../src/storage/fs-object-store.ts';

let dir: string;
let store: FsObjectStore;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-store-'));
  store = await new FsObjectStore(dir).init();
});
afterAll(async () => {
  await store.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const object = (size: number) => {
  const bytes = randomBytes(size);
  return { objectId: createHash('sha256').update(bytes).digest('hex'), bytes };
};
const rows = (objects: { objectId: string; bytes: Buffer }[]) =>
  objects.map((o) => ({ object_id: o.objectId, size: o.bytes.length }));
const packs = async () => (await fs.readdir(path.join(dir, 'packs'))).sort();
const text = async (r: Readable) => Buffer.concat(await r.toArray());

test('a batch becomes one pack and its index; every read returns the bytes; a batch already held writes nothing', async () => {
  const objects = [object(10), object(70_000), object(0), object(3)];
  await store.putMany(objects);
  const written = await packs();
  expect(written.filter((n) => n.endsWith('.pack'))).toHaveLength(1);
  expect(written.filter((n) => n.endsWith('.idx'))).toHaveLength(1);
  // No loose object files: only the pack directory and tmp.
  expect((await fs.readdir(dir)).sort()).toEqual(['packs', 'tmp']);
  const back = await store.getMany(rows(objects));
  expect(back.map((b, i) => b.equals(objects[i]!.bytes))).toEqual([true, true, true, true]);
  for (const o of objects) {
    expect(await store.has(o.objectId)).toBe(true);
    expect((await store.get(o.objectId)).equals(o.bytes)).toBe(true);
    expect((await text(await store.open(o.objectId))).equals(o.bytes)).toBe(true);
  }
  await store.putMany(objects.slice(1));
  expect(await packs()).toEqual(written);
  expect(await store.has(object(5).objectId)).toBe(false);
});

test('another process on the same directory finds objects packed after it started', async () => {
  const other = await new FsObjectStore(dir).init();
  try {
    const later = [object(100), object(200)];
    await store.putMany(later);
    expect(await other.has(later[0]!.objectId)).toBe(true);
    const back = await other.getMany(rows(later));
    expect(back[1]!.equals(later[1]!.bytes)).toBe(true);
    // Written by the other one, read here.
    const theirs = object(300);
    await other.putMany([theirs]);
    expect((await store.get(theirs.objectId)).equals(theirs.bytes)).toBe(true);
  } finally {
    await other.close();
  }
});

test('loose objects (streamed uploads) and packed ones read together; a row size that disagrees fails', async () => {
  const loose = object(5000);
  const received = await store.receive(loose.objectId, Readable.from([loose.bytes]), 10_000);
  expect(received.size).toBe(5000);
  expect(await store.has(loose.objectId)).toBe(false);
  await received.place();
  const packed = object(50);
  await store.putMany([packed]);
  const [a, b] = await store.getMany(rows([packed, loose]));
  expect(a!.equals(packed.bytes)).toBe(true);
  expect(b!.equals(loose.bytes)).toBe(true);
  expect((await text(await store.open(loose.objectId))).equals(loose.bytes)).toBe(true);
  await expect(store.getMany([{ object_id: packed.objectId, size: 51 }])).rejects.toThrow(
    /is 50 bytes in its pack, its row says 51/,
  );
  await expect(store.get(object(1).objectId)).rejects.toMatchObject({ code: 'ENOENT' });
});

test('with room: one buffer, each object after exactly its room, across packs and loose files, in any order', async () => {
  const packed = [object(40), object(0), object(70_000), object(7)];
  await store.putMany(packed);
  const loose = object(900);
  await (await store.receive(loose.objectId, Readable.from([loose.bytes]), 1000)).place();
  // Pack order (adjacent, one readv), then out of order, a loose file between, a 0-byte object.
  const order = [packed[0]!, packed[1]!, packed[2]!, loose, packed[3]!, packed[0]!];
  const room = [0, 3, 90, 1, 0, 17];
  const { buffer, starts } = await store.getManyWithRoom(rows(order), room);
  let at = 0;
  order.forEach((o, i) => {
    at += room[i]!;
    expect(starts[i]).toBe(at);
    expect(buffer.subarray(at, at + o.bytes.length).equals(o.bytes)).toBe(true);
    at += o.bytes.length;
  });
  expect(buffer.length).toBe(at);
  await expect(store.getManyWithRoom([{ object_id: packed[0]!.objectId, size: 41 }], [5])).rejects.toThrow(
    /is 40 bytes in its pack, its row says 41/,
  );
});

test('start-up removes what a dead writer left (temp files, a pack whose index never came) and keeps a live one', async () => {
  const dead = 4_194_301; // above any pid this machine hands out
  await fs.writeFile(path.join(dir, 'tmp', `${dead}-abc.pack`), 'half');
  await fs.writeFile(path.join(dir, 'packs', `${dead}-1-abc.pack`), 'no index');
  await fs.writeFile(path.join(dir, 'packs', `${process.pid}-1-abc.pack`), 'index on its way');
  const again = await new FsObjectStore(dir).init();
  try {
    expect(await fs.readdir(path.join(dir, 'tmp'))).toEqual([]);
    const names = await packs();
    expect(names).not.toContain(`${dead}-1-abc.pack`);
    expect(names).toContain(`${process.pid}-1-abc.pack`);
  } finally {
    await again.close();
    await fs.rm(path.join(dir, 'packs', `${process.pid}-1-abc.pack`));
  }
});

test('an unreadable index fails the read that met it, and reads after it is gone scan afresh', async () => {
  const writer = await new FsObjectStore(dir).init();
  try {
    const bad = path.join(dir, 'packs', `${process.pid}-2-bad.idx`);
    await fs.writeFile(bad, 'not an index');
    const first = object(40);
    await writer.putMany([first]);
    await expect(store.get(first.objectId)).rejects.toThrow(/not a version-1 pack index/);
    await fs.rm(bad);
    const second = object(41);
    await writer.putMany([second]);
    expect((await store.get(second.objectId)).equals(second.bytes)).toBe(true);
    expect((await store.get(first.objectId)).equals(first.bytes)).toBe(true);
  } finally {
    await writer.close();
  }
});
