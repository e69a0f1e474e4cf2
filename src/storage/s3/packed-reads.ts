import { mapLimited, PARALLEL, type S3Bucket } from './client.ts';
import type { Packed } from './pack-rows.ts';

/**
 * Objects of one pack read in one ranged GET when they lie at most this far apart, and the range
 * stays at most RANGE_MAX long: the bytes read but not wanted stay small next to the request
 * saved, and PARALLEL ranges in flight bound the memory a batch takes.
 */
const RANGE_GAP = 64 * 1024;
const RANGE_MAX = 2 * 1024 * 1024;

/** Pack by pack, by offset, objects stored alone last: getMany's ranges then come out long. */
export function byPackOrder<T extends { object_id: string }>(
  where: ReadonlyMap<string, Packed>,
  objects: readonly T[],
): T[] {
  const key = (o: T) => where.get(o.object_id);
  return [...objects].sort((a, b) => {
    const pa = key(a);
    const pb = key(b);
    if (!pa || !pb) return pa ? -1 : pb ? 1 : 0;
    return pa.pack === pb.pack ? pa.offset - pb.offset : pa.pack < pb.pack ? -1 : 1;
  });
}

/**
 * Packed objects are read as ranges of their packs — neighbours within RANGE_GAP of each
 * other in one GET of at most RANGE_MAX — and the rest one GET each, PARALLEL at a time.
 */
export async function readMany(
  bucket: S3Bucket,
  where: ReadonlyMap<string, Packed>,
  objects: readonly { object_id: string; size: number }[],
  readAlone: (objectId: string) => Promise<Buffer>,
): Promise<Buffer[]> {
  const out = new Array<Buffer>(objects.length);
  const reads: (() => Promise<void>)[] = [];
  const byPack = new Map<string, { i: number; p: Packed }[]>();
  objects.forEach((o, i) => {
    const p = where.get(o.object_id);
    if (!p) {
      reads.push(async () => {
        out[i] = await readAlone(o.object_id);
      });
      return;
    }
    const list = byPack.get(p.pack) ?? [];
    list.push({ i, p });
    byPack.set(p.pack, list);
  });
  for (const [pack, members] of byPack) {
    members.sort((a, b) => a.p.offset - b.p.offset);
    let run: { start: number; end: number; members: typeof members } | undefined;
    const flush = (r: NonNullable<typeof run>) =>
      reads.push(async () => {
        const bytes = await bucket.range(pack, r.start, r.end);
        const wanted = r.members.reduce((n, m) => n + m.p.size, 0);
        for (const { i, p } of r.members) {
          const slice = bytes.subarray(p.offset - r.start, p.offset - r.start + p.size);
          // Copied out when the range held bytes nobody asked for, so those are not kept alive.
          out[i] = wanted < bytes.length ? Buffer.from(slice) : slice;
        }
      });
    for (const m of members) {
      const end = m.p.offset + m.p.size;
      if (run && m.p.offset <= run.end + RANGE_GAP && Math.max(run.end, end) - run.start <= RANGE_MAX) {
        run.end = Math.max(run.end, end);
        run.members.push(m);
      } else {
        if (run) flush(run);
        run = { start: m.p.offset, end, members: [m] };
      }
    }
    if (run) flush(run);
  }
  await mapLimited(reads, PARALLEL, (read) => read());
  objects.forEach((o, i) => {
    if (out[i]!.length !== o.size)
      throw new Error(`object ${o.object_id} is ${out[i]!.length} bytes, its row says ${o.size}`);
  });
  return out;
}
