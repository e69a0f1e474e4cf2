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
});
afterAll(async () => {
  await files.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const tmp = (name: string) => path.join(dir, 'tmp', name);
const target = (name: string) => path.join(dir, name.slice(0, 2), name);

test('a batch is written to its targets, nothing is left in tmp, and an existing target is kept as it is', async () => {
  await fs.mkdir(path.join(dir, 'aa'), { recursive: true });
  await fs.writeFile(target('aa-existing'), 'first');
  const written = await files.write(
    [
      { tmp: tmp('1'), target: target('aa-one'), bytes: Buffer.from('one') },
      { tmp: tmp('2'), target: target('bb-two'), bytes: Buffer.alloc(200_000, 7) },
      { tmp: tmp('3'), target: target('aa-existing'), bytes: Buffer.from('second') },
    ],
    path.join(dir, 'tmp'),
  );
  expect(written).toBe(2);
  expect(await fs.readFile(target('aa-one'), 'utf8')).toBe('one');
  expect((await fs.readFile(target('bb-two'))).equals(Buffer.alloc(200_000, 7))).toBe(true);
  expect(await fs.readFile(target('aa-existing'), 'utf8')).toBe('first');
  expect(await fs.readdir(path.join(dir, 'tmp'))).toEqual([]);
});

test('a batch that fails midway leaves none of its temp files and moves nothing into place', async () => {
  await fs.writeFile(tmp('taken'), 'someone else'); // exclusive create of this temp path fails
  await expect(
    files.write(
      [
        { tmp: tmp('4'), target: target('cc-four'), bytes: Buffer.from('four') },
        { tmp: tmp('taken'), target: target('cc-five'), bytes: Buffer.from('five') },
      ],
      path.join(dir, 'tmp'),
    ),
  ).rejects.toMatchObject({ code: 'EEXIST' });
  expect(await fs.readdir(path.join(dir, 'tmp'))).toEqual(['taken']);
  await expect(fs.access(target('cc-four'))).rejects.toThrow();
  await fs.rm(tmp('taken'));
});

test('reads return each file whole, in order; a missing or short file fails the batch', async () => {
  const [one, two] = await files.read([target('aa-one'), target('bb-two')], [3, 200_000]);
  expect(one!.toString()).toBe('one');
  expect(two!.equals(Buffer.alloc(200_000, 7))).toBe(true);
  expect(await files.read([], [])).toEqual([]);
  await expect(files.read([target('zz-missing')], [1])).rejects.toMatchObject({ code: 'ENOENT' });
  await expect(files.read([target('aa-one')], [10])).rejects.toThrow(/holds 3 bytes, its object row says 10/);
});

test('the reader keeps working after a failed batch, and reads in parallel batches in order', async () => {
  const batches = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      files.read([target('aa-one'), target('bb-two')], [3, 200_000]).then((b) => [i, b] as const),
    ),
  );
  batches.forEach(([i, [one]], j) => {
    expect(i).toBe(j);
    expect(one!.toString()).toBe('one');
  });
});
