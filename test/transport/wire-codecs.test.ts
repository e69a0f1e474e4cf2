import fs from 'node:fs';
import path from 'node:path';
import { Packr } from 'msgpackr';
import { expect, test } from 'vitest';
import { BadRequestError } from '../../src/errors.ts';
import { writeRefs } from '../../src/transport/refs-writer.ts';
import { parsePushRequest } from '../../src/transport/wire-schemas.ts';
import { makeCommit, makeSnapshot } from '../helpers/muse.ts';

/** Pure wire codecs: data in, bytes out (or bytes' value in, checked data out), no database. */
const fixtures = path.resolve(import.meta.dirname, '../fixtures/mwp');
const unpackr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

test('writeRefs writes every refs answer the reference hub gave the muse client, byte for byte', () => {
  const recorded = fs.readdirSync(fixtures).filter((f) => /-refs-200\.resp\.msgpack$/.test(f));
  expect(recorded.length).toBeGreaterThanOrEqual(4);
  for (const file of recorded) {
    const bytes = fs.readFileSync(path.join(fixtures, file));
    const v = unpackr.unpack(bytes) as {
      repo_id: string;
      default_branch: string;
      branch_heads: Record<string, string>;
    };
    const written = writeRefs({ repoId: v.repo_id, defaultBranch: v.default_branch, heads: v.branch_heads });
    expect(Buffer.from(written).toString('hex'), file).toBe(bytes.toString('hex'));
  }
});

test('writeRefs at the msgpack size boundaries: 0, 15 and 16 heads; names of 31 and 32 bytes', () => {
  const head = 'a'.repeat(64);
  for (const count of [0, 15, 16]) {
    const heads = Object.fromEntries(Array.from({ length: count }, (_, i) => [`b${i}`, head]));
    const bytes = writeRefs({ repoId: 'r', defaultBranch: 'main', heads });
    const headsAt = Buffer.from(bytes).indexOf(Buffer.from('branch_heads')) + 'branch_heads'.length;
    // fixmap up to 15 entries (0x80 | n), map16 from 16 (0xde, then the count in two bytes).
    expect([...bytes.subarray(headsAt, headsAt + (count < 16 ? 1 : 3))]).toEqual(
      count < 16 ? [0x80 | count] : [0xde, 0x00, count],
    );
    expect(unpackr.unpack(bytes)).toEqual({
      repo_id: 'r',
      domain: 'code',
      default_branch: 'main',
      branch_heads: heads,
    });
  }
  for (const [length, header] of [
    [31, [0xbf]],
    [32, [0xd9, 32]],
  ] as const) {
    const name = 'x'.repeat(length);
    const bytes = Buffer.from(writeRefs({ repoId: 'r', defaultBranch: name, heads: {} }));
    const at = bytes.indexOf(Buffer.from('default_branch')) + 'default_branch'.length;
    expect([...bytes.subarray(at, at + header.length)]).toEqual([...header]);
    expect((unpackr.unpack(bytes) as { default_branch: string }).default_branch).toBe(name);
  }
});

test('parsePushRequest keeps the records exactly as sent (unknown keys included) beside the checked request', () => {
  const { snapshot } = makeSnapshot({ 'a.txt': 'a' });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id, extra: { future_field: [1, 'two'] } });
  const body = { bundle: { commits: [commit], snapshots: [snapshot], objects: [] }, branch: 'main' };
  const { request, rawCommits, rawSnapshots } = parsePushRequest(body);
  expect(request.branch).toBe('main');
  expect(request.force).toBe(false);
  expect(request.bundle.commits[0]!.commit_id).toBe(commit.commit_id);
  expect(rawCommits).toEqual([commit]);
  expect(rawCommits[0]!.future_field).toEqual([1, 'two']);
  expect(rawSnapshots).toEqual([snapshot]);
  // No snapshots key: an empty list, as the schema defaults it.
  expect(parsePushRequest({ bundle: { commits: [], objects: [] }, branch: 'main' }).rawSnapshots).toEqual([]);
  expect(() => parsePushRequest({ bundle: { commits: 'nope' }, branch: 'main' })).toThrow(BadRequestError);
  expect(() => parsePushRequest({ bundle: { commits: [] }, branch: '../x' })).toThrow(/branch/);
});
