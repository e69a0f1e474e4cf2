import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { PrimaryMessage, WorkerMessage } from './cluster.ts';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { startGateway } from './server.ts';

/** A cluster worker: one gateway on the primary's database; reports back once listening. */
export async function runWorker(config: Config, logger: Logger): Promise<void> {
  const log = logger.child({ worker: cluster.worker?.id });
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    gateway = await startGateway(config, log);
  } catch (err) {
    process.send?.({ type: 'failed', error: err instanceof Error ? err.message : String(err) } satisfies WorkerMessage);
    throw err;
  }
  AggregatorRegistry.setRegistries(gateway.metrics.registry);
  new AggregatorRegistry(); // answers the primary's collection requests
  gateway.metrics.clusterText = askPrimaryForMetrics;
  process.send?.({ type: 'listening', url: gateway.url } satisfies WorkerMessage);
  const shutdown = () => {
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // Ctrl-C reaches the whole process group; the primary also sends SIGTERM. Either drains.
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  process.on('SIGHUP', () => gateway.reloadTls());
  // The primary is gone (e.g. SIGKILL): do not live on as an orphan holding the port.
  process.once('disconnect', shutdown);
}

let metricsRequests = 0;
const pendingMetrics = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();

function askPrimaryForMetrics(): Promise<string> {
  if (pendingMetrics.size === 0) {
    process.on('message', onPrimaryMessage);
  }
  const id = ++metricsRequests;
  return new Promise((resolve, reject) => {
    pendingMetrics.set(id, { resolve, reject });
    process.send?.({ type: 'metrics-request', id } satisfies WorkerMessage);
  });
}

function onPrimaryMessage(msg: PrimaryMessage) {
  if (msg?.type !== 'metrics') return;
  const pending = pendingMetrics.get(msg.id);
  if (!pending) return;
  pendingMetrics.delete(msg.id);
  if (pendingMetrics.size === 0) process.off('message', onPrimaryMessage);
  if (msg.text !== undefined) pending.resolve(msg.text);
  else pending.reject(new Error(msg.error ?? 'metrics collection failed'));
}
