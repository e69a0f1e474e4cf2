import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Browser, type BrowserContext, type BrowserContextOptions, chromium } from 'playwright-core';
import { aptInstall } from './apt.ts';

/**
 * A real browser for the page tests: Debian's chromium (playwright's own download cannot work on
 * these machines), installed with apt-get when missing, driven by playwright-core. Every context
 * lets requests reach the gateway only: anything else is aborted and recorded.
 *
 * `node --import tsx test/helpers/browser.ts install` installs it (.ci/run does).
 */
const CHROMIUM = '/usr/bin/chromium';

export async function ensureChromiumInstalled(): Promise<void> {
  if (existsSync(CHROMIUM)) return;
  await aptInstall(['chromium'], "the browser tests need Debian's chromium");
}

export async function launchBrowser(): Promise<Browser> {
  await ensureChromiumInstalled();
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** A context whose requests may reach `origin` only; the others are aborted and listed in `blocked`. */
export async function gatewayOnlyContext(browser: Browser, origin: string, options: BrowserContextOptions = {}) {
  const context: BrowserContext = await browser.newContext(options);
  const blocked: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin === origin || url.protocol === 'data:' || url.protocol === 'blob:') return route.continue();
    blocked.push(url.href);
    return route.abort();
  });
  return { context, blocked };
}

/** Where this run's screenshots go (outside the repo; printed so a person can look). */
export async function screenshotDir(): Promise<string> {
  const dir = path.join(os.tmpdir(), 'musehub-screenshots');
  await fs.mkdir(dir, { recursive: true });
  return dir;
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  if (process.argv[2] !== 'install') {
    console.error('usage: node --import tsx test/helpers/browser.ts install');
    process.exit(2);
  }
  await ensureChromiumInstalled();
  console.log('chromium is installed');
}
