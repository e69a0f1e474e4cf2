import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Installs Debian packages a test suite needs (as root; anyone else gets the command to run).
 * Stale package lists on a fresh runner make the first try fail: they are refreshed once.
 */
export async function aptInstall(packages: readonly string[], neededFor: string): Promise<void> {
  const command = `apt-get install -y --no-install-recommends ${packages.join(' ')}`;
  if (process.getuid?.() !== 0) throw new Error(`${neededFor}: run as root \`${command}\``);
  const install = () =>
    run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      maxBuffer: 64 * 1024 * 1024,
    });
  try {
    await install();
  } catch {
    await run('apt-get', ['update'], { maxBuffer: 64 * 1024 * 1024 });
    await install();
  }
}
