// Child-process helper for the orphan test: starts the embedded cluster in argv[2], reports its pid, then idles.
import fs from 'node:fs/promises';
import path from 'node:path';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.ts';

const dir = process.argv[2]!;
await startEmbeddedPostgres({ dir });
const pid = (await fs.readFile(path.join(dir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0];
process.stdout.write(`ready ${pid}\n`);
setInterval(() => undefined, 1000);
