import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { gatewayOnlyContext, launchBrowser, screenshotDir } from '../helpers/browser.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/** /docs in a real browser with every host but the gateway blocked: the reference must render. */
let gw: TestGateway;
let browser: Browser;
beforeAll(async () => {
  gw = await startTestGateway();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await gw?.close();
});

test('/docs renders the API reference from the gateway alone (no script, no CDN, no web fonts)', async () => {
  const { context, blocked } = await gatewayOnlyContext(browser, new URL(gw.url).origin);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Content-Security-Policy refusals are reported on the console: the page's own policy must
  // not stop anything it needs.
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  const res = await page.goto(`${gw.url}/docs`);
  expect(res?.status()).toBe(200);
  // Operations from /openapi.json, rendered by the script the gateway served.
  await page.getByText('Create a repo owned by the caller').first().waitFor({ timeout: 30_000 });
  await page.getByText('Soft-delete a repo').first().waitFor({ timeout: 30_000 });
  const shot = `${await screenshotDir()}/docs.png`;
  await page.screenshot({ path: shot });
  console.log(`screenshot: ${shot}`);
  expect(blocked).toEqual([]);
  expect(errors).toEqual([]);
  await context.close();
});

test('clicking through /docs — the contents, an operation, a schema — asks no host but the gateway; first paint', async () => {
  const { context, blocked } = await gatewayOnlyContext(browser, new URL(gw.url).origin);
  const page = await context.newPage();
  const requested: string[] = [];
  page.on('request', (r) => requested.push(r.url()));
  const t0 = performance.now();
  await page.goto(`${gw.url}/docs`);
  await page
    .getByRole('heading', { name: /Soft-delete a repo|DELETE/ })
    .first()
    .waitFor({ timeout: 30_000 });
  const firstPaint = await page.evaluate(
    () => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? performance.now(),
  );
  console.log(
    `/docs: first contentful paint ${Math.round(firstPaint)} ms, loaded in ${Math.round(performance.now() - t0)} ms`,
  );
  await page.getByRole('navigation', { name: 'operations' }).getByText('Rename a repo').click();
  expect(page.url()).toMatch(/#op-patch-/);
  await expect.poll(() => page.locator(':target').getAttribute('id')).toMatch(/^op-patch-/);
  await page.locator(':target').getByRole('link', { name: 'UpdateRepo' }).first().click();
  await expect.poll(() => page.locator(':target').getAttribute('id')).toBe('schema-UpdateRepo');
  await page.getByRole('link', { name: '/openapi.json' }).first().click();
  await page.waitForLoadState('load');
  expect(page.url()).toBe(`${gw.url}/openapi.json`);
  expect(blocked).toEqual([]);
  const origin = new URL(gw.url).origin;
  expect(requested.filter((u) => !u.startsWith(origin))).toEqual([]);
  expect(requested.map((u) => new URL(u).pathname)).toEqual(['/docs', '/docs/reference.css', '/openapi.json']);
  await context.close();
});
