import cluster, { type Worker } from 'node:cluster';
import type { AggregatorRegistry } from 'prom-client';
import type { Config } from './config.ts';
import { provideDatabase } from './db/provide-database.ts';
import { greet } from './greeting.ts';
import type { Logger } from './logger.ts';
import { loadPresignKey } from './transport/presign.ts';

export type WorkerMessage =
  | { type: 'listening'; url: string }
  | { type: 'failed'; error: string }
  | { type: 'metrics-request'; id: number };

export type PrimaryMessage = { type: 'metrics'; id: number; text?: string; error?: string };

/**
 * `musehub serve` with MUSEHUB_WORKERS > 1: this primary provides the database (embedded or
 * DATABASE_URL) and creates the presign key, then forks N workers that share one port through
 * node:cluster; the workers migrate (one at a time, under an advisory lock). The primary loads
 * no app and no ORM: it only supervises, so it stays small. Workers keep their caches coherent through the same NOTIFY
 * channel separate machines would use. SIGINT/SIGTERM drains every worker, then stops the
 * embedded database. A worker that dies is replaced; if one fails while starting, the whole
 * gateway stops (a broken config would otherwise restart forever).
 */
export async function runPrimary(config: Config, logger: Logger): Promise<void> {
  const started = performance.now();
  const db = await provideDatabase(config, (line) => logger.debug({ postgres: line }));
  try {
    await loadPresignKey(config.dataDir, config.presignSecret);
  } catch (err) {
    await db.stop();
    throw err;
  }

  let stopping = false;
  let starting = true;
  // Workers use the primary's database, embedded or not, and never start one of their own.
  // The workers' logs name the database the primary chose, not the variable it reached them by.
  const env = { DATABASE_URL: db.url, MUSEHUB_DATABASE_SOURCE: db.source };
  let onWorkerMessage: (msg: WorkerMessage) => void = () => undefined;
  const ready = new Promise<string>((resolve, reject) => {
    let listening = 0;
    onWorkerMessage = (msg) => {
      if (msg.type === 'failed') reject(new Error(msg.error));
      else if (msg.type === 'listening' && ++listening === config.workers) resolve(msg.url);
    };
  });
  // GET /metrics on any worker: that worker asks here, and prom-client collects and sums
  // every worker's registry over the same IPC channel (loaded on the first scrape).
  let aggregator:
    | Promise<Pick<AggregatorRegistry<'text/plain; version=0.0.4; charset=utf-8'>, 'clusterMetrics'>>
    | undefined;
  const collect = () => {
    aggregator ??= import('prom-client').then(({ AggregatorRegistry }) => new AggregatorRegistry());
    return aggregator.then((a) => a.clusterMetrics());
  };
  const fork = () => {
    const worker = cluster.fork(env);
    worker.on('message', (msg: WorkerMessage) => {
      if (msg.type !== 'metrics-request') return onWorkerMessage(msg);
      collect().then(
        (text) => worker.send({ type: 'metrics', id: msg.id, text } satisfies PrimaryMessage),
        (err: Error) => worker.send({ type: 'metrics', id: msg.id, error: err.message } satisfies PrimaryMessage),
      );
    });
    return worker;
  };
  cluster.on('exit', (worker, code, signal) => {
    // Exit code 0 is a worker that drained on a signal (e.g. Ctrl-C reaching the process group).
    if (stopping || code === 0) return;
    if (starting) return failStart(`worker ${worker.process.pid} exited while starting (${signal ?? code})`);
    logger.warn({ pid: worker.process.pid, code, signal }, 'worker died; starting a replacement');
    fork();
  });
  let failStart: (reason: string) => void = () => undefined;
  const startFailed = new Promise<never>((_, reject) => {
    failStart = (reason) => reject(new Error(reason));
  });
  for (let i = 0; i < config.workers; i++) fork();

  const stopAll = async () => {
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const kill = setTimeout(() => w.process.kill('SIGKILL'), config.shutdownTimeoutMs + 5_000);
            w.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            w.process.kill('SIGTERM');
          }),
      ),
    );
    await db.stop();
  };

  try {
    const url = await Promise.race([ready, startFailed]);
    starting = false;
    logger.info({ url, workers: config.workers, ms: Math.round(performance.now() - started) }, 'gateway listening');
    greet(config, url, db.source);
  } catch (err) {
    await stopAll();
    throw err;
  }

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    stopAll().then(
      () => {
        logger.info('gateway stopped');
        process.exit(0);
      },
      (err) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  // systemd's ExecReload (and certbot hooks) signal the main pid: each worker serves the
  // certificate and reloads it itself, so the signal is passed on; none restarts.
  process.on('SIGHUP', () => {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
    logger.info({ workers: workers.length }, 'SIGHUP: reloading the certificate in every worker');
    for (const w of workers) w.process.kill('SIGHUP');
  });
}
