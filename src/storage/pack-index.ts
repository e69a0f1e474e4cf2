/**
 * The index file beside each pack: which objects the pack holds and where. A pack is the
 * bytes of one upload batch laid end to end (one file, one fsync, instead of a file, an fsync
 * and a rename per object); its index is written and renamed into place after it, so an index
 * on disk always names a complete pack.
 *
 * Layout: "MHPX", a version byte (1), the entry count (u32 LE), then per object its id (32
 * raw bytes), offset (u48 LE) and length (u32 LE).
 */
const MAGIC = Buffer.from('MHPX');
const HEADER = MAGIC.length + 1 + 4;
const ENTRY = 32 + 6 + 4;

export interface PackEntry {
  objectId: string;
  offset: number;
  length: number;
}

export function encodePackIndex(entries: readonly PackEntry[]): Buffer {
  const out = Buffer.alloc(HEADER + entries.length * ENTRY);
  MAGIC.copy(out, 0);
  out.writeUInt8(1, 4);
  out.writeUInt32LE(entries.length, 5);
  entries.forEach((e, i) => {
    const at = HEADER + i * ENTRY;
    out.write(e.objectId, at, 32, 'hex');
    out.writeUIntLE(e.offset, at + 32, 6);
    out.writeUInt32LE(e.length, at + 38);
  });
  return out;
}

/** The entries of an index file; throws on anything that is not a whole version-1 index. */
export function decodePackIndex(bytes: Buffer): PackEntry[] {
  if (bytes.length < HEADER || !bytes.subarray(0, 4).equals(MAGIC) || bytes.readUInt8(4) !== 1) {
    throw new Error('not a version-1 pack index');
  }
  const count = bytes.readUInt32LE(5);
  if (bytes.length !== HEADER + count * ENTRY)
    throw new Error(`pack index of ${count} entries has ${bytes.length} bytes`);
  const entries: PackEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = HEADER + i * ENTRY;
    entries.push({
      objectId: bytes.toString('hex', at, at + 32),
      offset: bytes.readUIntLE(at + 32, 6),
      length: bytes.readUInt32LE(at + 38),
    });
  }
  return entries;
}
