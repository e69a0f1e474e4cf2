import cluster from 'node:cluster';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';

/** Process entry for `npm start` / `musehub serve`: runs until SIGINT or SIGTERM. */
export async function runServe(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`musehub: configuration error: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  // Each process loads only what its role needs: a cluster's primary never loads the app.
  if (cluster.isWorker) {
    const { runWorker } = await import('./cluster-worker.ts');
    await runWorker(config, logger);
    return;
  }
  if (config.workers > 1) {
    try {
      const { runPrimary } = await import('./cluster.ts');
      await runPrimary(config, logger);
    } catch (err) {
      logger.fatal({ err }, 'gateway failed to start');
      process.exit(1);
    }
    return;
  }
  const { startGateway } = await import('./server.ts');
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    gateway = await startGateway(config, logger);
  } catch (err) {
    logger.fatal({ err }, 'gateway failed to start');
    process.exit(1);
  }
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    gateway.close().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  // certbot-style renewals: reload MUSEHUB_TLS_CERT/KEY without dropping a connection.
  process.on('SIGHUP', () => gateway.reloadTls());
}

if (import.meta.url === `file://${process.argv[1]}`) await runServe();
