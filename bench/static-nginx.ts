import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureNginxInstalled } from '../test/helpers/nginx.ts';
import { eventually } from '../test/helpers/process.ts';
import { freePort, processTree } from './gateway.ts';

/**
 * Debian's nginx (one worker, sendfile) serving a folder as static files over plain HTTP on
 * loopback: the best any HTTP server does here, the ceiling beside bare Hono's for a transfer.
 */
export async function startStaticNginx(root: string) {
  await ensureNginxInstalled();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-bench-nginx-'));
  await fs.chmod(dir, 0o755);
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  await fs.writeFile(
    conf,
    [
      'daemon off;',
      'master_process on;',
      'worker_processes 1;',
      // Root may run the bench: the worker must still read the files it serves.
      'user root;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      '  sendfile on;',
      '  tcp_nopush on;',
      `  client_body_temp_path ${dir}/body;`,
      `  proxy_temp_path ${dir}/proxy;`,
      `  fastcgi_temp_path ${dir}/fastcgi;`,
      `  uwsgi_temp_path ${dir}/uwsgi;`,
      `  scgi_temp_path ${dir}/scgi;`,
      `  server { listen 127.0.0.1:${port}; root ${root}; }`,
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/sbin/nginx', ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')], {
    stdio: 'ignore',
  });
  try {
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}`);
      return (await fetch(`http://127.0.0.1:${port}/`).catch(() => null)) !== null;
    }, 60_000);
  } catch (err) {
    const log = await fs.readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
    child.kill('SIGKILL');
    throw new Error(`nginx did not start: ${err}\n${log}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    tree: processTree(child),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGQUIT');
        await new Promise((r) => child.once('exit', r));
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
