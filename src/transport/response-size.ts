/** The muse client reads at most 64 MiB of a response, and a fetch has no paging. */
export const CLIENT_RESPONSE_LIMIT = 64 * 1024 * 1024;

/** Per-object msgpack framing in a fetch response: a two-key map, the id, the bin header. */
export const OBJECT_FRAMING_BYTES = 80;

/**
 * An upper bound of a fetch response's encoded size: framing per object plus the bytes, the
 * stored commit and snapshot records as they are spliced in, the envelope and branch heads.
 * Fetch refuses by it before sending a byte; push refuses by it a head nobody could clone.
 */
export function responseBytes(parts: {
  objectBytes: number;
  objectCount: number;
  recordBytes: number;
  branchCount: number;
}): number {
  return (
    parts.objectBytes + parts.objectCount * OBJECT_FRAMING_BYTES + parts.recordBytes + 256 + parts.branchCount * 128
  );
}
