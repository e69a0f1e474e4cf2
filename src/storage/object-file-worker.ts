import { Worker } from 'node:worker_threads';

/**
 * Object files in batches, on a worker thread with plain synchronous syscalls: one cross-thread
 * round trip per batch instead of several libuv pool hand-offs per file (measured as the largest
 * share of a clone's CPU on this kind of machine, where each wake-up of the pool is expensive).
 * The event loop never waits on the disk.
 *
 * Reads: whole files of known sizes into one buffer per batch, handed back without a copy.
 * Writes (group durability): every file of the batch is written to its temp file, then all are
 * fsynced, then renamed into place, then each directory touched is fsynced once; the batch
 * resolves only after that, so an answer never precedes durability. A process killed midway
 * leaves temp files named after its pid, which the next start removes.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');

function read({ paths, sizes }) {
  let total = 0;
  for (const s of sizes) total += s;
  const buffer = new ArrayBuffer(total);
  const view = new Uint8Array(buffer);
  const lengths = [];
  let at = 0;
  for (let i = 0; i < paths.length; i++) {
    const fd = fs.openSync(paths[i], 'r');
    let n = 0;
    try {
      while (n < sizes[i]) {
        const got = fs.readSync(fd, view, at + n, sizes[i] - n, n);
        if (got === 0) break;
        n += got;
      }
    } finally {
      fs.closeSync(fd);
    }
    lengths.push(n);
    at += sizes[i];
  }
  return [{ buffer, lengths }, [buffer]];
}

function syncDir(dir) {
  const fd = fs.openSync(dir, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

function write({ items, tmpDir }) {
  const fresh = items.filter((it) => !fs.existsSync(it.target));
  const open = [];
  try {
    for (const it of fresh) {
      const fd = fs.openSync(it.tmp, 'wx', 0o644);
      open.push({ fd, it });
      let at = 0;
      while (at < it.bytes.length) at += fs.writeSync(fd, it.bytes, at);
    }
    for (const { fd } of open) fs.fsyncSync(fd);
  } catch (err) {
    for (const { fd, it } of open) { try { fs.closeSync(fd); } catch {} try { fs.rmSync(it.tmp, { force: true }); } catch {} }
    throw err;
  }
  for (const { fd } of open) fs.closeSync(fd);
  const dirs = new Set();
  let created = false;
  for (const { it } of open) {
    const dir = path.dirname(it.target);
    if (!dirs.has(dir) && !fs.existsSync(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      created = true;
    }
    fs.renameSync(it.tmp, it.target);
    dirs.add(dir);
  }
  // The renames, and any new directory, are durable only once their directories are synced.
  for (const dir of dirs) syncDir(dir);
  if (created) syncDir(path.dirname([...dirs][0]));
  if (dirs.size) syncDir(tmpDir);
  return [{ written: open.length }, []];
}

parentPort.on('message', (msg) => {
  try {
    const [result, transfer] = msg.op === 'read' ? read(msg) : write(msg);
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
  written?: number;
  error?: { message: string; code?: string };
}

export interface FileWrite {
  /** Temp file to write first (created exclusively). */
  tmp: string;
  /** Where it is renamed to once durable; an existing target is left as it is. */
  target: string;
  bytes: Uint8Array;
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

  /** The files' bytes, in order. A file shorter than its size (or missing) fails the batch. */
  async read(paths: readonly string[], sizes: readonly number[]): Promise<Buffer[]> {
    if (!paths.length) return [];
    const reply = await this.call({ op: 'read', paths, sizes });
    const out: Buffer[] = [];
    let at = 0;
    paths.forEach((p, i) => {
      if (reply.lengths![i] !== sizes[i]) {
        throw new Error(`${p} holds ${reply.lengths![i]} bytes, its object row says ${sizes[i]}`);
      }
      out.push(Buffer.from(reply.buffer!, at, sizes[i]));
      at += sizes[i]!;
    });
    return out;
  }

  /** Writes a batch durably (see above); resolves with how many files were new. */
  async write(items: readonly FileWrite[], tmpDir: string): Promise<number> {
    if (!items.length) return 0;
    return (await this.call({ op: 'write', items, tmpDir })).written!;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}
