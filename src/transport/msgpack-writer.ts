/**
 * Just enough of a msgpack encoder to write a large response piece by piece: container
 * headers, strings and bin headers. Values that are already msgpack (stored commit and
 * snapshot records) are spliced in as they are, so they go out byte for byte as pushed.
 */
function header(small: number, smallMax: number, codes: [number, number, number | null], n: number): Buffer {
  if (n <= smallMax && small >= 0) return Buffer.from([small | n]);
  if (codes[2] !== null && n < 0x100) return Buffer.from([codes[2], n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = codes[0];
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = codes[1];
  b.writeUInt32BE(n, 1);
  return b;
}

export const mapHeader = (n: number) => header(0x80, 15, [0xde, 0xdf, null], n);
export const arrayHeader = (n: number) => header(0x90, 15, [0xdc, 0xdd, null], n);
export const binHeader = (n: number) => header(-1, -1, [0xc5, 0xc6, 0xc4], n);

export function str(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  return Buffer.concat([header(0xa0, 31, [0xda, 0xdb, 0xd9], bytes.length), bytes]);
}
