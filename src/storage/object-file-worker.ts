import { Worker } from 'node:worker_threads';

/**
 * Object files in batches, on a worker thread with plain synchronous syscalls: one cross-thread
 * round trip per batch instead of several libuv pool hand-offs per file (measured as the largest
 * share of a clone's CPU on this kind of machine, where each wake-up of the pool is expensive).
 * The event loop never waits on the disk.
 *
 * Reads: byte ranges of files (a whole loose object, or one object inside a pack) into one
 * buffer per batch, each file opened once and adjacent ranges read together, handed back
 * without a copy — optionally with room before each range that the caller fills (a fetch
 * puts each object's msgpack header there, so the batch leaves as one buffer).
 * Writes: a batch becomes one pack file and its index (see pack-index.ts), each written to a
 * temp file and fsynced, then renamed into place (pack first, so an index never names a
 * missing pack), then the pack directory fsynced; the batch resolves only after that, so an
 * answer never precedes durability. A process killed midway leaves temp files named after its
 * pid, which the next start removes.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');

function read({ files, ranges, leads }) {
  // Range i lands after leads[i] bytes left free for the caller (zero unless asked for).
  const starts = new Array(ranges.length);
  let total = 0;
  for (let i = 0; i < ranges.length; i++) {
    total += leads ? leads[i] : 0;
    starts[i] = total;
    total += ranges[i][2];
  }
  const buffer = new ArrayBuffer(total);
  const view = new Uint8Array(buffer);
  const lengths = new Array(ranges.length).fill(0);
  const fds = new Map();
  try {
    for (let i = 0; i < ranges.length; ) {
      const [file, offset] = ranges[i];
      // Ranges that follow each other in the same file (a pack read in the order it was
      // written) are one read: one readv into their places, one segment where places touch.
      const segments = [view.subarray(starts[i], starts[i] + ranges[i][2])];
      let j = i + 1;
      let want = ranges[i][2];
      while (j < ranges.length && ranges[j][0] === file && ranges[j][1] === offset + want) {
        const last = segments[segments.length - 1];
        if (last.byteOffset + last.length === starts[j]) {
          segments[segments.length - 1] = view.subarray(last.byteOffset, starts[j] + ranges[j][2]);
        } else {
          segments.push(view.subarray(starts[j], starts[j] + ranges[j][2]));
        }
        want += ranges[j++][2];
      }
      let fd = fds.get(file);
      if (fd === undefined) {
        fd = fs.openSync(files[file], 'r');
        fds.set(file, fd);
      }
      let n = 0;
      while (n < want && segments.length) {
        // readv takes at most IOV_MAX (1024) buffers at a time.
        const got = fs.readvSync(fd, segments.slice(0, 1024), offset + n);
        if (got === 0) break;
        n += got;
        trim(segments, got);
      }
      for (let k = i; k < j; k++) {
        lengths[k] = Math.max(0, Math.min(ranges[k][2], n));
        n -= ranges[k][2];
      }
      i = j;
    }
  } finally {
    for (const fd of fds.values()) fs.closeSync(fd);
  }
  return [{ buffer, lengths, starts }, [buffer]];
}

function writeWhole(file, chunks, created) {
  const fd = fs.openSync(file, 'wx', 0o644);
  created.push(file);
  try {
    // writev takes at most IOV_MAX (1024) buffers at a time.
    for (let i = 0; i < chunks.length; i += 1024) {
      const part = chunks.slice(i, i + 1024);
      let left = part.reduce((n, b) => n + b.length, 0);
      while (left > 0) {
        const wrote = fs.writevSync(fd, part);
        left -= wrote;
        if (left > 0) trim(part, wrote);
      }
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Drops the first n bytes of a list of buffers, after a short writev. */
function trim(parts, n) {
  while (n > 0 && parts.length) {
    if (parts[0].length <= n) n -= parts.shift().length;
    else { parts[0] = parts[0].subarray(n); n = 0; }
  }
  while (parts.length && !parts[0].length) parts.shift();
}

function pack({ chunks, index, tmpPack, tmpIndex, packPath, indexPath, packDir }) {
  const created = [];
  try {
    writeWhole(tmpPack, chunks, created);
    writeWhole(tmpIndex, [index], created);
  } catch (err) {
    for (const f of created) { try { fs.rmSync(f, { force: true }); } catch {} }
    throw err;
  }
  fs.renameSync(tmpPack, packPath);
  fs.renameSync(tmpIndex, indexPath);
  // The renames are durable once the directory holding them is.
  const fd = fs.openSync(packDir, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  return [{ written: chunks.length }, []];
}

parentPort.on('message', (msg) => {
  try {
    const [result, transfer] = msg.op === 'read' ? read(msg) : pack(msg);
    parentPort.postMessage({ id: msg.id, ...result }, transfer);
  } catch (err) {
    parentPort.postMessage({ id: msg.id, error: { message: err.message, code: err.code } });
  }
});
`;

interface Reply {
  id: number;
  buffer?: ArrayBuffer;
  lengths?: number[];
  starts?: number[];
  written?: number;
  error?: { message: string; code?: string };
}

/** Where an object's bytes are: a whole loose file (offset 0), or a range of a pack. */
export interface ByteRange {
  file: string;
  offset: number;
  length: number;
}

/** Ranges read into one buffer: range i's bytes begin at `starts[i]`. */
export interface RoomyRead {
  buffer: Buffer;
  starts: number[];
}

export interface PackWrite {
  /** The objects' bytes, in pack order. */
  chunks: readonly Uint8Array[];
  /** The encoded index (pack-index.ts). */
  index: Uint8Array;
  /** Temp files to write first (created exclusively), then their final names. */
  tmpPack: string;
  tmpIndex: string;
  packPath: string;
  indexPath: string;
  packDir: string;
}

export class ObjectFileWorker {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

  private start(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    // Idle, it must not keep the process alive; busy, its pending replies hold a ref.
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (!this.pending.size) worker.unref();
      waiter?.resolve(reply);
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`file reader thread exited (${code})`)));
    return worker;
  }

  private fail(err: Error): void {
    this.worker = undefined;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }

  private call(message: Record<string, unknown>): Promise<Reply> {
    this.worker ??= this.start();
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.ref();
      this.worker!.postMessage({ id, ...message });
    }).then((reply) => {
      if (reply.error) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
      return reply;
    });
  }

  /** The ranges' bytes, in order. A range the file does not hold whole (or a missing file) fails the batch. */
  async read(ranges: readonly ByteRange[]): Promise<Buffer[]> {
    const { buffer, starts } = await this.readWithRoom(ranges);
    return ranges.map((r, i) => buffer.subarray(starts[i], starts[i]! + r.length));
  }

  /**
   * The ranges' bytes in one buffer, range i at `starts[i]` with `room[i]` free bytes before it
   * (and nothing else between ranges), for the caller to fill. Fails as read() does.
   */
  async readWithRoom(ranges: readonly ByteRange[], room?: readonly number[]): Promise<RoomyRead> {
    if (!ranges.length) return { buffer: Buffer.alloc(0), starts: [] };
    const fileIndex = new Map<string, number>();
    const wire = ranges.map((r) => {
      if (!fileIndex.has(r.file)) fileIndex.set(r.file, fileIndex.size);
      return [fileIndex.get(r.file)!, r.offset, r.length];
    });
    const reply = await this.call({ op: 'read', files: [...fileIndex.keys()], ranges: wire, leads: room });
    ranges.forEach((r, i) => {
      if (reply.lengths![i] !== r.length) {
        throw new Error(
          `${r.file} holds ${reply.lengths![i]} of the ${r.length} bytes its object row says at ${r.offset}`,
        );
      }
    });
    return { buffer: Buffer.from(reply.buffer!), starts: reply.starts! };
  }

  /** Writes one pack and its index durably (see above). */
  async pack(write: PackWrite): Promise<number> {
    if (!write.chunks.length) return 0;
    return (await this.call({ op: 'pack', ...write })).written!;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}
