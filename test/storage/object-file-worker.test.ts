import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ObjectFileWorker } from '../../src/storage/object-file-worker.ts';

let dir: string;
const files = new ObjectFileWorker();
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-files-'));
  await fs.mkdir(path.join(dir, 'tmp'));
  await fs.mkdir(path.join(dir, 'packs'));
});
afterAll(async () => {
  await files.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const at = (...p: string[]) => path.join(dir, ...p);
const pack = (name: string, chunks: Buffer[], tmpName = name) =>
  files.pack({
    chunks,
    index: Buffer.from(`index of ${name}`),
    tmpPack: at('tmp', `${tmpName}.pack`),
    tmpIndex: at('tmp', `${tmpName}.idx`),
    packPath: at('packs', `${name}.pack`),
    indexPath: at('packs', `${name}.idx`),
    packDir: at('packs'),
  });

test('a pack holds its chunks end to end, its index beside it, and nothing is left in tmp', async () => {
  // More chunks than one writev takes (1,024), of uneven sizes.
  const chunks = Array.from({ length: 1500 }, (_, i) => Buffer.alloc(1 + (i % 300), i % 251));
  expect(await pack('one', chunks)).toBe(1500);
  expect((await fs.readFile(at('packs', 'one.pack'))).equals(Buffer.concat(chunks))).toBe(true);
  expect(await fs.readFile(at('packs', 'one.idx'), 'utf8')).toBe('index of one');
  expect(await fs.readdir(at('tmp'))).toEqual([]);
});

test('a pack that cannot be written leaves no temp file and moves nothing into place', async () => {
  await fs.writeFile(at('tmp', 'taken.idx'), 'someone else'); // exclusive create of the index fails
  await expect(pack('two', [Buffer.from('x')], 'taken')).rejects.toMatchObject({ code: 'EEXIST' });
  expect(await fs.readdir(at('tmp'))).toEqual(['taken.idx']);
  expect((await fs.readdir(at('packs'))).sort()).toEqual(['one.idx', 'one.pack']);
  await fs.rm(at('tmp', 'taken.idx'));
});

test('reads return each range in order, adjacent ranges of a file and whole files alike', async () => {
  await fs.writeFile(at('loose'), 'a loose object');
  const [a, b, loose, c] = await files.read([
    { file: at('packs', 'one.pack'), offset: 0, length: 1 },
    { file: at('packs', 'one.pack'), offset: 1, length: 2 },
    { file: at('loose'), offset: 0, length: 14 },
    { file: at('packs', 'one.pack'), offset: 1 + 2 + 3, length: 5 },
  ]);
  expect([...a!]).toEqual([0]);
  expect([...b!]).toEqual([1, 1]);
  expect(loose!.toString()).toBe('a loose object');
  expect([...c!]).toEqual([3, 3, 3, 3, 4]);
  expect(await files.read([])).toEqual([]);
});

test('a missing file or a range past its end fails the batch, and the reader keeps working', async () => {
  await expect(files.read([{ file: at('missing'), offset: 0, length: 1 }])).rejects.toMatchObject({ code: 'ENOENT' });
  await expect(
    files.read([
      { file: at('loose'), offset: 10, length: 4 },
      { file: at('loose'), offset: 14, length: 6 },
    ]),
  ).rejects.toThrow(/holds 0 of the 6 bytes its object row says at 14/);
  const batches = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      files.read([{ file: at('loose'), offset: 2, length: 5 }]).then((b) => [i, b] as const),
    ),
  );
  batches.forEach(([i, [bytes]], j) => {
    expect(i).toBe(j);
    expect(bytes!.toString()).toBe('loose');
  });
});
