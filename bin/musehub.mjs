#!/usr/bin/env node
// Runs the compiled sources (bin/build.mjs: built once per version of them), or the TypeScript
// sources through tsx when TypeScript is not installed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

// The project's runtime is the Node the `node` npm package pins (see package.json). npm scripts
// find it first on PATH; started any other way on an older Node, hand over to it.
const pinned = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
if (Number(process.versions.node.split('.')[0]) < 24 && existsSync(pinned) && process.execPath !== pinned) {
  const child = spawn(pinned, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  // Ctrl-C reaches the whole process group already; other signals are passed on.
  process.on('SIGINT', () => undefined);
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (signal === 'SIGTERM' ? 15 : 1)));
} else {
  // The compiled sources when TypeScript is installed (bin/build.mjs), else the sources through tsx.
  const { compiledEntry } = await import('./build.mjs');
  const entry = compiledEntry();
  if (entry) {
    const { main } = await import(pathToFileURL(entry).href);
    await main(process.argv);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    const { main } = await import('../src/cli/main.ts');
    await main(process.argv);
  }
}
