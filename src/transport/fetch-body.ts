import { isObjectId } from '../storage/object-store.ts';
import { LIMITS } from './wire-schemas.ts';

/** What a fetch needs of `have`: membership, and whether it is empty (a clone). */
export interface IdSet {
  has(id: string): boolean;
  readonly size: number;
}

const ID_BYTES = 66; // str8 header, length, 64 hex digits
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdef') HEX[c.charCodeAt(0)] = 1;

/**
 * `have` as the request's own bytes: a run of msgpack str8 items of 64 lowercase hex digits,
 * checked once and probed in place. A client sends its whole history (10,000 ids are 660 KB);
 * decoding them into strings, validating each and hashing them into a Set cost ~5 ms, while an
 * incremental fetch probes a handful of ids. A probe is a search of the bytes (~65 µs for
 * 10,000 ids; a match can only be aligned: the str8 header is no hex digit); a walk that
 * probes more than PROBES_BEFORE_SET ids gets a Set after all.
 */
export class PackedIds implements IdSet {
  private probes = 0;
  private set: Set<string> | undefined;

  constructor(
    private readonly items: Buffer,
    readonly size: number,
  ) {}

  has(id: string): boolean {
    if (this.set) return this.set.has(id);
    if (++this.probes > PROBES_BEFORE_SET) {
      this.set = new Set(this.ids());
      return this.set.has(id);
    }
    // Only an id can be held (and a latin1 write of anything else could match by accident).
    if (!isObjectId(id)) return false;
    const needle = Buffer.allocUnsafe(ID_BYTES);
    needle[0] = 0xd9;
    needle[1] = 0x40;
    needle.write(id, 2, 'latin1');
    return this.items.indexOf(needle) !== -1;
  }

  ids(): string[] {
    const out: string[] = new Array(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.items.toString('latin1', i * ID_BYTES + 2, (i + 1) * ID_BYTES);
    return out;
  }
}
const PROBES_BEFORE_SET = 8;

/** Whether buf[start, end) is a run of str8 items of 64 lowercase hex digits (a plain loop: hot). */
function allIds(buf: Buffer, start: number, end: number): boolean {
  for (let p = start; p < end; p += ID_BYTES) {
    if (buf[p] !== 0xd9 || buf[p + 1] !== 0x40) return false;
    for (let i = p + 2; i < p + ID_BYTES; i++) if (HEX[buf[i]!] !== 1) return false;
  }
  return true;
}

/**
 * A fetch body read straight from its msgpack bytes when it has the shape the muse client sends
 * — a map of exactly `want` and `have`, each an array of 64-digit lowercase hex strings, within
 * the limits — with `have` kept as bytes (PackedIds). Anything else is null: the caller decodes
 * it the general way, which answers every problem with its own detail.
 */
export function readFetchBody(bytes: Uint8Array): { want: string[]; have: PackedIds } | null {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const header = (fix: number, c16: number, c32: number): number | null => {
    const b = buf[pos];
    if (b === undefined) return null;
    if ((b & 0xf0) === fix) {
      pos += 1;
      return b & 0x0f;
    }
    if (b === c16 && pos + 3 <= buf.length) {
      pos += 3;
      return buf.readUInt16BE(pos - 2);
    }
    if (b === c32 && pos + 5 <= buf.length) {
      pos += 5;
      return buf.readUInt32BE(pos - 4);
    }
    return null;
  };
  /** An array of ids at `pos`: where its items start and how many; null if it is anything else. */
  const ids = (max: number, min: number): { start: number; count: number } | null => {
    const count = header(0x90, 0xdc, 0xdd);
    if (count === null || count > max || count < min) return null;
    const start = pos;
    const end = start + count * ID_BYTES;
    if (end > buf.length || !allIds(buf, start, end)) return null;
    pos = end;
    return { start, count };
  };
  if (header(0x80, 0xde, 0xdf) !== 2) return null;
  let want: { start: number; count: number } | null = null;
  let have: { start: number; count: number } | null = null;
  for (let entry = 0; entry < 2; entry++) {
    // Keys are fixstr: 0xa4 and four letters.
    if (buf[pos] !== 0xa4 || pos + 5 > buf.length) return null;
    const key = buf.toString('latin1', pos + 1, pos + 5);
    pos += 5;
    if (key === 'want' && !want) want = ids(LIMITS.want, 1);
    else if (key === 'have' && !have) have = ids(LIMITS.have, 0);
    else return null;
    if (!(key === 'want' ? want : have)) return null;
  }
  if (!want || !have || pos !== buf.length) return null;
  const wanted = new PackedIds(buf.subarray(want.start, want.start + want.count * ID_BYTES), want.count).ids();
  return {
    want: wanted,
    have: new PackedIds(buf.subarray(have.start, have.start + have.count * ID_BYTES), have.count),
  };
}
