import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { aptInstall } from './apt.ts';
import { eventually } from './process.ts';

const run = promisify(execFile);
const NGINX = '/usr/sbin/nginx';

/** Debian's nginx, installed when missing (root). `node --import tsx test/helpers/nginx.ts install` (.ci/run). */
export async function ensureNginxInstalled(): Promise<void> {
  if (!existsSync(NGINX)) await aptInstall(['nginx'], 'the reverse-proxy tests need nginx');
}

export interface NginxSite {
  /** The public side: nginx listens with TLS here. */
  listen: { host: string; port: number };
  /** nginx's plain-HTTP port (the redirect server of the file). */
  redirectPort: number;
  /** The gateway, as `upstream` names it. */
  upstream: string;
  certPath: string;
  keyPath: string;
  serverName: string;
}

export interface RunningNginx {
  child: ChildProcess;
  dir: string;
  /** SIGHUP: nginx re-reads its configuration and certificates (what `systemctl reload nginx` does). */
  reload(): void;
  close(): Promise<void>;
}

/**
 * deploy/nginx-musehub.conf as shipped, with only its marked, deployment-specific values
 * replaced (addresses, ports, names, certificate paths), inside a minimal main configuration.
 */
export async function siteConfig(site: NginxSite): Promise<string> {
  const shipped = await fs.readFile(path.resolve(import.meta.dirname, '../../deploy/nginx-musehub.conf'), 'utf8');
  const replaced = shipped
    .replace(/server 127\.0\.0\.1:8080;/, `server ${site.upstream};`)
    .replace(/listen 80;\n\s*listen \[::\]:80;/, `listen ${site.listen.host}:${site.redirectPort};`)
    .replace(/listen 443 ssl;\n\s*listen \[::\]:443 ssl;/, `listen ${site.listen.host}:${site.listen.port} ssl;`)
    .replaceAll('server_name hub.example.org;', `server_name ${site.serverName};`)
    .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${site.certPath};`)
    .replace(/ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${site.keyPath};`);
  const directives = replaced.replace(/#.*$/gm, '');
  for (const gone of ['8080;', 'listen 80;', 'listen 443', 'hub.example.org', '/etc/letsencrypt']) {
    if (directives.includes(gone))
      throw new Error(`deploy/nginx-musehub.conf changed shape: "${gone}" was not replaced`);
  }
  return replaced;
}

export async function startNginx(site: NginxSite): Promise<RunningNginx> {
  await ensureNginxInstalled();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-nginx-'));
  await fs.chmod(dir, 0o755);
  await fs.writeFile(path.join(dir, 'site.conf'), await siteConfig(site));
  await fs.writeFile(
    path.join(dir, 'nginx.conf'),
    [
      'daemon off;',
      'master_process on;',
      'worker_processes 1;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 1024; }',
      'http {',
      `  access_log ${dir}/access.log;`,
      `  client_body_temp_path ${dir}/body;`,
      `  proxy_temp_path ${dir}/proxy;`,
      `  fastcgi_temp_path ${dir}/fastcgi;`,
      `  uwsgi_temp_path ${dir}/uwsgi;`,
      `  scgi_temp_path ${dir}/scgi;`,
      `  include ${dir}/site.conf;`,
      '}',
      '',
    ].join('\n'),
  );
  const conf = path.join(dir, 'nginx.conf');
  await run(NGINX, ['-t', '-q', '-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')]).catch((err) => {
    throw new Error(`nginx -t refused the configuration: ${err.stderr || err.message}`);
  });
  const child = spawn(NGINX, ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')], { stdio: 'ignore' });
  // Ready when its TLS port takes a connection (not when the pid file appears); if it exits
  // first, its error log says why.
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: site.listen.host, port: site.listen.port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  try {
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}`);
      return accepts();
    }, 60_000);
  } catch (err) {
    const log = await fs.readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
    child.kill('SIGKILL');
    throw new Error(`nginx did not start listening on ${site.listen.host}:${site.listen.port}: ${err}\n${log}`);
  }
  return {
    child,
    dir,
    reload: () => child.kill('SIGHUP'),
    async close() {
      if (child.exitCode === null) {
        child.kill('SIGQUIT');
        await new Promise((r) => child.once('exit', r));
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === 'install') await ensureNginxInstalled();
