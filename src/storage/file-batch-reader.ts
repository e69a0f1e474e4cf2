import { Worker } from 'node:worker_threads';

/**
 * Reads batches of whole files of known sizes on a worker thread, with plain synchronous
 * syscalls there, into one buffer per batch that is handed back without a copy. A clone of
 * thousands of small objects then costs one cross-thread round trip per batch instead of three
 * per file (open, read, close through libuv's pool): measured as the largest share of a clone's
 * CPU on this kind of machine, where each wake-up of the pool is expensive. The event loop never
 * waits on the disk.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
parentPort.on('message', ({ id, paths, sizes }) => {
  try {
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
    parentPort.postMessage({ id, buffer, lengths }, [buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: { message: err.message, code: err.code } });
  }
});
`;

interface Reply {
  id: number;
  buffer?: ArrayBuffer;
  lengths?: number[];
  error?: { message: string; code?: string };
}

export class FileBatchReader {
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

  /** The files' bytes, in order. A file shorter than its size (or missing) fails the batch. */
  async read(paths: readonly string[], sizes: readonly number[]): Promise<Buffer[]> {
    if (!paths.length) return [];
    this.worker ??= this.start();
    const id = this.nextId++;
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.ref();
      this.worker!.postMessage({ id, paths, sizes });
    });
    if (reply.error) {
      throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
    }
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

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}
