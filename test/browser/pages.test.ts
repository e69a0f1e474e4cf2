import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { gatewayOnlyContext, launchBrowser, screenshotDir } from '../helpers/browser.ts';
import { addCollaborator, createRepo, type RepoBody } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll } from '../helpers/muse.ts';

/**
 * The pages in chromium, every host but the gateway blocked: sign in, browse a repo pushed over
 * the wire protocol, read an issue, delete through the typed confirmation, see the repo gone for
 * a collaborator, restore it, see it back with its issues. A screenshot of each page is saved
 * under the folder printed at the start.
 */
type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let browser: Browser;
let alice: U;
let bob: U;
let album: RepoBody;
let shots: string;
const contexts: { context: BrowserContext; blocked: string[]; problems: string[] }[] = [];

const XSS = '<img src=x onerror=alert(1)>';

beforeAll(async () => {
  gw = await startTestGateway();
  browser = await launchBrowser();
  shots = await screenshotDir();
  console.log(`screenshots: ${shots}`);
  alice = await gw.user('alice');
  bob = await gw.user('bob');
  album = await createRepo(gw, alice.token, { name: 'album', visibility: 'private' });
  await addCollaborator(gw, alice.token, album.repoId, 'bob', 'write');
  const { snapshot, objects } = makeSnapshot({
    'README.md': '# album\n',
    'tracks/01-intro.mid': Buffer.alloc(3000, 1),
    'tracks/02-theme.mid': Buffer.alloc(70_000, 2),
  });
  const first = makeCommit({ snapshotId: snapshot.snapshot_id, message: 'record the intro' });
  const bundle = { commits: [first], snapshots: [snapshot], objects };
  expect((await pushAll(gw, '/alice/album', alice.token, bundle)).status).toBe(200);
  const dev = makeSnapshot({ 'README.md': '# album (dev)\n', 'sketch.txt': 'idea' });
  const devCommit = makeCommit({ snapshotId: dev.snapshot.snapshot_id, parent: first.commit_id, message: 'sketch' });
  const devBundle = { commits: [devCommit], snapshots: [dev.snapshot], objects: dev.objects };
  expect((await pushAll(gw, '/alice/album', alice.token, devBundle, { branch: 'dev' })).status).toBe(200);
  const api = `/api/v1/repos/${album.repoId}`;
  expect(
    (await gw.request('POST', `${api}/issues`, { token: bob.token, json: { title: 'Intro is too long' } })).status,
  ).toBe(201);
  await gw.request('POST', `${api}/issues/1/comments`, { token: alice.token, json: { body: 'Trimmed to 8 bars.' } });
  await gw.request('POST', `${api}/proposals`, {
    token: bob.token,
    json: { title: 'Add the sketch', fromBranch: 'dev' },
  });
}, 180_000);
afterAll(async () => {
  for (const { context } of contexts) await context.close();
  await browser?.close();
  await gw?.close();
});

/** A fresh browser profile that records blocked requests, script errors, CSP reports and dialogs. */
async function newBrowser(viewport?: { width: number; height: number }) {
  const { context, blocked } = await gatewayOnlyContext(browser, new URL(gw.url).origin, viewport ? { viewport } : {});
  const problems: string[] = [];
  const entry = { context, blocked, problems };
  contexts.push(entry);
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`script error: ${e}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 404/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('dialog', async (d) => {
    problems.push(`dialog: ${d.message()}`);
    await d.dismiss();
  });
  return { page, entry };
}

async function signIn(page: Page, token: string) {
  await page.goto(`${gw.url}/login`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/(alice|bob)$/);
}

const shot = (page: Page, name: string) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

test('sign in, browse, delete with the typed confirmation, gone for a collaborator, restore, back with its issues', async () => {
  const { page, entry } = await newBrowser();
  await page.goto(`${gw.url}/login`);
  await shot(page, 'sign-in');
  await signIn(page, alice.token);
  await page.getByRole('link', { name: 'album' }).waitFor();
  await shot(page, 'user');

  // Repo home: the default branch's files, from the snapshot pushed over the wire protocol.
  await page.getByRole('link', { name: 'album' }).click();
  await page.waitForURL(`${gw.url}/alice/album`);
  await expect.poll(() => page.locator('table.files').textContent()).toContain('README.md');
  const files = await page.locator('table.files').textContent();
  expect(files).toContain('tracks/');
  expect(await page.getByLabel('clone command').inputValue()).toBe(`muse clone ${gw.url}/alice/album`);
  await shot(page, 'repo');
  await page.getByRole('link', { name: 'tracks/' }).click();
  await expect.poll(() => page.locator('table.files').textContent()).toContain('02-theme.mid');
  expect(await page.locator('table.files').textContent()).toContain('68 KiB');
  // The download link serves the file's bytes to this signed-in browser (a private repo).
  const href = await page.getByRole('link', { name: 'Download' }).first().getAttribute('href');
  const download = await page.request.get(`${gw.url}${href}`);
  expect(download.status()).toBe(200);
  expect((await download.body()).length).toBe(3000);
  await shot(page, 'repo-folder');
  // The branch menu switches on change (the page's one script).
  await page.goto(`${gw.url}/alice/album`);
  await page.getByLabel('Branch').selectOption('dev');
  await page.waitForURL(/branch=dev/);
  await expect.poll(() => page.locator('table.files').textContent()).toContain('sketch.txt');

  await page.getByRole('link', { name: 'Commits' }).click();
  await page.getByText('sketch').first().waitFor();
  await shot(page, 'commits');
  await page.getByRole('link', { name: 'Proposals' }).click();
  await page.getByText('Add the sketch').waitFor();
  await shot(page, 'proposals');
  await page.getByRole('link', { name: 'Issues' }).click();
  await shot(page, 'issues');
  await page.getByRole('link', { name: 'Intro is too long' }).click();
  await page.getByText('Trimmed to 8 bars.').waitFor();
  await shot(page, 'issue');

  // Bob, a collaborator, in a browser of his own: he sees the repo before the delete.
  const bobs = await newBrowser();
  await signIn(bobs.page, bob.token);
  expect((await bobs.page.goto(`${gw.url}/alice/album`))?.status()).toBe(200);

  // Settings → danger zone: the button stays disabled until the full name is typed.
  await page.getByRole('link', { name: 'Settings' }).click();
  const button = page.getByRole('button', { name: 'Delete this repo' });
  const deleteForm = page.locator('form', { has: button });
  const confirm = deleteForm.getByLabel('Type alice/album to confirm');
  expect(await button.isDisabled()).toBe(true);
  await confirm.fill('alice/albu');
  expect(await button.isDisabled()).toBe(true);
  await confirm.fill('album');
  expect(await button.isDisabled()).toBe(true);
  await shot(page, 'settings');
  await confirm.fill('alice/album');
  expect(await button.isEnabled()).toBe(true);
  await button.click();
  await page.waitForURL(`${gw.url}/settings/deleted-repos`);
  await page.getByRole('status').getByText('Deleted alice/album: it is gone for everyone.').waitFor();
  await page.getByText('alice/album').first().waitFor();
  expect(await page.locator('ul.deleted').textContent()).toContain('with 1 issue, 1 issue comment, 1 proposal');
  await shot(page, 'deleted-repos');

  // Gone for the collaborator: the one "Not found" page, the same as for a repo that never was.
  const gone = await bobs.page.goto(`${gw.url}/alice/album`);
  expect(gone?.status()).toBe(404);
  await bobs.page.getByRole('heading', { name: 'Not found' }).waitFor();
  await shot(bobs.page, 'collaborator-404');
  const goneText = await bobs.page.locator('main').textContent();
  await bobs.page.goto(`${gw.url}/alice/never-was`);
  expect(await bobs.page.locator('main').textContent()).toBe(goneText);
  expect((await bobs.page.goto(`${gw.url}/alice/album/issues/1`))?.status()).toBe(404);

  // Restore: back with its issue and the comment.
  await page.getByRole('button', { name: 'Restore alice/album' }).click();
  await page.waitForURL(`${gw.url}/alice/album`);
  await page.getByRole('status').getByText('Restored alice/album.').waitFor();
  await page.getByRole('link', { name: 'Issues' }).click();
  await page.getByRole('link', { name: 'Intro is too long' }).click();
  await page.getByText('Trimmed to 8 bars.').waitFor();
  await shot(page, 'restored-issue');
  expect((await bobs.page.goto(`${gw.url}/alice/album`))?.status()).toBe(200);

  // Sign out: the header offers sign-in again, and the repo is the 404 page to this browser.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('navigation').getByRole('link', { name: 'Sign in' }).waitFor();
  expect((await page.goto(`${gw.url}/alice/album`))?.status()).toBe(404);

  for (const e of [entry, bobs.entry]) {
    expect(e.blocked).toEqual([]);
    expect(e.problems).toEqual([]);
  }
});

test('the write forms in chromium: create a repo, open and close an issue with a comment, rename it, make it public, open and merge a proposal', async () => {
  const { page, entry } = await newBrowser();
  await signIn(page, alice.token);
  await page.getByRole('link', { name: 'New repo' }).click();
  await page.getByLabel('Name').fill('Browser Made');
  await page.getByLabel('Description (optional)').fill('made by clicking');
  await page.getByRole('button', { name: 'Create repo' }).click();
  await page.waitForURL(`${gw.url}/alice/browser-made`);
  await page.getByRole('status').getByText('Created alice/browser-made.').waitFor();
  await shot(page, 'created');

  await page.getByRole('link', { name: 'Issues' }).click();
  await page.getByRole('link', { name: 'New issue' }).click();
  await page.getByLabel('Title').fill('Needs a bridge');
  await page.getByLabel('Description').fill('between verse and chorus');
  await page.getByRole('button', { name: 'Open issue' }).click();
  await page.waitForURL(`${gw.url}/alice/browser-made/issues/1`);
  await page.getByLabel('Add a comment').fill('drafted one');
  await page.getByRole('button', { name: 'Comment' }).click();
  await page.getByRole('status').getByText('Comment added.').waitFor();
  await page.getByRole('button', { name: 'Close issue' }).click();
  await page.getByRole('status').getByText('Closed issue #1.').waitFor();
  await page.getByRole('button', { name: 'Reopen issue' }).waitFor();
  expect(await page.locator('article.comment').textContent()).toContain('drafted one');
  await shot(page, 'issue-closed');

  // Settings: rename, then make it public through the typed confirmation.
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByLabel('Repository name').fill('Browser Renamed');
  await page.getByRole('button', { name: 'Rename' }).click();
  await page.waitForURL(`${gw.url}/alice/browser-renamed/settings`);
  await page.getByRole('status').getByText('alice/browser-made is now alice/browser-renamed.').waitFor();
  const makePublic = page.getByRole('button', { name: 'Make public' });
  expect(await makePublic.isDisabled()).toBe(true);
  await page
    .locator('form', { has: makePublic })
    .getByLabel('Type alice/browser-renamed to confirm')
    .fill('alice/browser-renamed');
  await makePublic.click();
  await page.getByRole('status').getByText('alice/browser-renamed is public: anyone can read and clone it.').waitFor();
  await shot(page, 'settings-after');
  // The old address leads to the new one.
  await page.goto(`${gw.url}/alice/browser-made/issues/1`);
  expect(page.url()).toBe(`${gw.url}/alice/browser-renamed/issues/1`);

  // A proposal on the album (two branches): Bob, a writer, opens it; Alice merges it.
  const bobs = await newBrowser();
  await signIn(bobs.page, bob.token);
  await bobs.page.goto(`${gw.url}/alice/album/proposals/new`);
  await bobs.page.getByLabel('Title').fill('Merge the sketch');
  await bobs.page.getByLabel('Merge from').selectOption('dev');
  await bobs.page.getByRole('button', { name: 'Open proposal' }).click();
  await bobs.page
    .getByRole('status')
    .getByText(/Opened proposal #\d+\./)
    .waitFor();
  const proposalUrl = bobs.page.url();
  await page.goto(proposalUrl);
  await page.getByRole('button', { name: 'Merge proposal' }).click();
  await page
    .getByRole('status')
    .getByText(/Merged proposal #\d+\./)
    .waitFor();
  expect(await page.getByRole('button', { name: /(Close|Reopen|Merge) proposal/ }).count()).toBe(0);
  await shot(page, 'proposal-merged');

  for (const e of [entry, bobs.entry]) {
    expect(e.blocked).toEqual([]);
    expect(e.problems).toEqual([]);
  }
});

test('the XSS probe in a description, an issue title, a file name and a branch name renders as text', async () => {
  const created = await gw.request('POST', '/api/v1/repos', {
    token: alice.token,
    json: { name: 'probe', description: XSS, visibility: 'public' },
  });
  expect(created.status).toBe(201);
  const { repoId } = (await created.json()) as { repoId: string };
  await gw.request('POST', `/api/v1/repos/${repoId}/issues`, { token: alice.token, json: { title: XSS, body: XSS } });
  const { snapshot, objects } = makeSnapshot({ [XSS]: 'x', 'ok.txt': 'y' });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id, message: XSS });
  // Git's rules allow no space in a branch name; the same probe without one.
  const branch = '<img/src=x/onerror=alert(1)>';
  const bundle = { commits: [commit], snapshots: [snapshot], objects };
  expect((await pushAll(gw, '/alice/probe', alice.token, bundle, { branch })).status).toBe(200);

  const { page, entry } = await newBrowser();
  await signIn(page, alice.token);
  for (const path of [
    '/alice/probe',
    '/alice/probe/issues',
    '/alice/probe/issues/1',
    '/alice/probe/commits',
    '/alice',
  ]) {
    await page.goto(`${gw.url}${path}`);
    await page.locator('main').waitFor();
    expect(await page.locator('main img').count()).toBe(0);
  }
  await page.goto(`${gw.url}/alice/probe`);
  const main = await page.locator('main').textContent();
  expect(main).toContain(XSS); // description and file name, as text
  expect(await page.getByLabel('Branch').inputValue()).toBe(branch);
  await shot(page, 'xss-probe');
  expect(entry.problems).toEqual([]);
  expect(entry.blocked).toEqual([]);
});

test('readable on a phone: no page is wider than the screen', async () => {
  const { page, entry } = await newBrowser({ width: 390, height: 844 });
  await signIn(page, alice.token);
  for (const [path, name] of [
    ['/alice/album', 'phone-repo'],
    ['/alice/album/issues/1', 'phone-issue'],
    ['/alice/album/settings', 'phone-settings'],
  ] as const) {
    await page.goto(`${gw.url}${path}`);
    const [scroll, client] = (await page.evaluate(
      '[document.documentElement.scrollWidth, document.documentElement.clientWidth]',
    )) as [number, number];
    expect(scroll, path).toBeLessThanOrEqual(client);
    await shot(page, name);
  }
  expect(entry.problems).toEqual([]);
});
