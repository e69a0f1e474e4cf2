import path from 'node:path';
import type { Config } from './config.ts';

/**
 * What `npm start` says to a person at a terminal once it listens: where, on which database and
 * store, and the command that creates the first user. Only on a terminal: when stdout is a pipe
 * or a file (systemd, docker, CI), the JSON log lines stay the whole output.
 */
export function greetingLines(
  config: Pick<Config, 'objectStore' | 'dataDir' | 's3' | 'workers'>,
  url: string,
  database: string,
): string[] {
  const store =
    config.objectStore === 'postgres'
      ? 'in the database (postgres store)'
      : config.objectStore === 's3' && config.s3
        ? `S3 bucket ${config.s3.bucket}${config.s3.prefix ? ` under ${config.s3.prefix}` : ''}${config.s3.endpoint ? ` at ${config.s3.endpoint}` : ''}`
        : `files in ${path.join(config.dataDir, 'objects')}`;
  return [
    '',
    `  MuseHub is listening on ${url}${config.workers > 1 ? ` (${config.workers} worker processes)` : ''}`,
    `  database: ${database}`,
    `  objects:  ${store}`,
    '',
    '  Create a user (prints their API token):  npx musehub user create <username>',
    `  Then push with muse:                     muse remote add origin ${url}/<username>/<repo>`,
    `  Pages: ${url}/   API reference: ${url}/docs`,
    '',
  ];
}

export function greet(config: Parameters<typeof greetingLines>[0], url: string, database: string): void {
  if (!process.stdout.isTTY) return;
  process.stdout.write(`${greetingLines(config, url, database).join('\n')}\n`);
}
