import { Packr } from 'msgpackr';

/**
 * Commit and snapshot records, and every wire message, are plain msgpack as the Python muse
 * client writes and reads it: no record extension, string map keys, bin for bytes. 64-bit
 * integers decode to BigInt so none is rounded.
 */
export const packr = new Packr({
  useRecords: false,
  moreTypes: false,
  mapsAsObjects: true,
  int64AsType: 'bigint',
  encodeUndefinedAsNil: true,
});

/** JSON cannot carry bytes: bins become base64 strings, BigInts decimal strings. */
export function toJsonSafe(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(toJsonSafe);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonSafe(v)]));
  }
  return value;
}
