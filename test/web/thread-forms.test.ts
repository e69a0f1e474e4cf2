import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { addCollaborator, createRepo } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll } from '../helpers/muse.ts';
import { page, postForm, signIn, submitForm, type WebSession } from '../helpers/web.ts';

/**
 * The pages' write forms for people (issue 27): create a repo; open, comment on, close and reopen
 * an issue; open a proposal, comment, merge or close it. Each goes through the session's form
 * token and the service REST uses; each says what it did on the page it leads to.
 */
type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let alice: U;
let bob: U;
let carol: U;
let aliceWeb: WebSession;
let bobWeb: WebSession;
let carolWeb: WebSession;

beforeAll(async () => {
  gw = await startTestGateway();
  alice = await gw.user('alice');
  bob = await gw.user('bob');
  carol = await gw.user('carol');
  aliceWeb = await signIn(gw, alice.token);
  bobWeb = await signIn(gw, bob.token);
  carolWeb = await signIn(gw, carol.token);
});
afterAll(() => gw?.close());
afterEach(() => gw.expectIntegrity());

const submit = (web: WebSession, path: string, fields: Record<string, string>) => submitForm(gw, web, path, fields);

describe('new repo', () => {
  test('the form creates a repo owned by the signed-in user and leads to it; bad input creates nothing', async () => {
    expect((await page(gw, '/new')).status).toBe(303); // anonymous: sign in first
    expect((await page(gw, '/new', aliceWeb.cookie)).text).toContain('Create repo');
    const made = await submit(aliceWeb, '/new', {
      name: 'Form Made',
      description: 'made in a form',
      visibility: 'public',
    });
    expect(made.location).toBe('/alice/form-made');
    expect(made.next?.text).toContain('Created alice/form-made. Push to it with: muse remote add origin');
    const [row] = await sql(
      gw.databaseUrl,
      "SELECT visibility, description FROM musehub_repos WHERE slug = 'form-made'",
    );
    expect(row).toEqual({ visibility: 'public', description: 'made in a form' });

    const before = await gw.fingerprint();
    const again = await submit(aliceWeb, '/new', { name: 'Form Made' });
    expect(again.res.status).toBe(409);
    expect(again.res.text).toContain('you already have a repo named &#39;form-made&#39;. Nothing was created.');
    expect(again.res.text).toContain('value="Form Made"'); // what was typed stays in the form
    const empty = await submit(aliceWeb, '/new', { name: '!!!' });
    expect(empty.res.status).toBe(400);
    expect(empty.res.text).toContain('name must contain at least one letter or digit');
    const forged = await postForm(gw, '/new', { csrf: bobWeb.csrf, name: 'Forged' }, aliceWeb.cookie);
    expect(forged.status).toBe(403);
    expect(await gw.fingerprint()).toBe(before);
  });
});

describe('issues', () => {
  test('open, comment, close and reopen through the pages; a reader who is not the author may only comment', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Form Issues', visibility: 'private' });
    await addCollaborator(gw, alice.token, repo.repoId, 'bob', 'read');
    const base = '/alice/form-issues/issues';
    expect((await page(gw, base, bobWeb.cookie)).text).toContain(`href="${base}/new"`);

    const opened = await submit(bobWeb, base, { title: 'Tempo drifts', body: 'in bar 12' });
    expect(opened.location).toBe(`${base}/1`);
    expect(opened.next?.text).toContain('Opened issue #1.');
    expect(opened.next?.text).toContain('Close issue'); // the author may close it

    const commented = await submit(aliceWeb, `${base}/1/comments`, { body: 'heard it too' });
    expect(commented.next?.text).toContain('Comment added.');
    expect(commented.next?.text).toContain('heard it too');

    const closed = await submit(aliceWeb, `${base}/1/state`, { state: 'closed' });
    expect(closed.next?.text).toContain('Closed issue #1.');
    expect(closed.next?.text).toContain('Reopen issue');
    const reopened = await submit(bobWeb, `${base}/1/state`, { state: 'open' });
    expect(reopened.next?.text).toContain('Reopened issue #1.');

    // Alice opens one; Bob (read, not its author) sees no state buttons and is refused if he posts anyway.
    await submit(aliceWeb, base, { title: 'Second' });
    expect((await page(gw, `${base}/2`, bobWeb.cookie)).text).not.toContain('Close issue');
    const before = await gw.fingerprint();
    expect((await submit(bobWeb, `${base}/2/state`, { state: 'closed' })).res.status).toBe(403);
    expect((await submit(aliceWeb, base, { title: 'line\nbreak' })).res.status).toBe(400);
    expect((await submit(aliceWeb, `${base}/2/comments`, { body: '   ' })).res.status).toBe(400);
    // A stranger to the private repo: the one 404, for every form.
    expect((await submit(carolWeb, base, { title: 'x' })).res.status).toBe(404);
    expect((await submit(carolWeb, `${base}/1/comments`, { body: 'x' })).res.status).toBe(404);
    expect(await gw.fingerprint()).toBe(before);

    const rows = await sql(
      gw.databaseUrl,
      'SELECT number, state FROM musehub_issues WHERE repo_id = $1 ORDER BY number',
      [repo.repoId],
    );
    expect(rows).toEqual([
      { number: 1, state: 'open' },
      { number: 2, state: 'open' },
    ]);
  });
});

describe('proposals', () => {
  test('open from one branch into another, comment, merge; a merged proposal offers nothing more', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Form Proposals', visibility: 'public' });
    await addCollaborator(gw, alice.token, repo.repoId, 'bob', 'write');
    for (const branch of ['main', 'chorus-v2']) {
      const { snapshot, objects } = makeSnapshot({ 'a.txt': `on ${branch}` });
      const commit = makeCommit({ snapshotId: snapshot.snapshot_id, branch });
      const res = await pushAll(
        gw,
        '/alice/form-proposals',
        alice.token,
        { commits: [commit], snapshots: [snapshot], objects },
        { branch },
      );
      expect(res.status).toBe(200);
    }
    const base = '/alice/form-proposals/proposals';
    const form = await page(gw, `${base}/new`, carolWeb.cookie);
    expect(form.text).toContain('<option value="chorus-v2" selected="">chorus-v2</option>');
    const opened = await submit(carolWeb, base, { title: 'New chorus', fromBranch: 'chorus-v2', toBranch: 'main' });
    expect(opened.location).toBe(`${base}/1`);
    expect(opened.next?.text).toContain('Opened proposal #1.');
    expect(opened.next?.text).toContain('chorus-v2 → main');
    // Carol is its author but no writer: she may close it, not merge it.
    expect(opened.next?.text).toContain('Close proposal');
    expect(opened.next?.text).not.toContain('Merge proposal');
    expect((await submit(carolWeb, `${base}/1/state`, { state: 'merged' })).res.status).toBe(403);

    const same = await submit(carolWeb, base, { title: 'Loop', fromBranch: 'main', toBranch: 'main' });
    expect(same.res.status).toBe(400);
    expect(same.res.text).toContain('fromBranch and toBranch must differ. Nothing was opened.');

    await submit(bobWeb, `${base}/1/comments`, { body: 'sounds right' });
    const merged = await submit(bobWeb, `${base}/1/state`, { state: 'merged' });
    expect(merged.next?.text).toContain('Merged proposal #1.');
    expect(merged.next?.text).toContain('sounds right');
    expect(merged.next?.text).not.toMatch(/(Close|Reopen|Merge) proposal/);
    const again = await submit(bobWeb, `${base}/1/state`, { state: 'open' });
    expect(again.res.status).toBe(409);
    expect((await page(gw, `${base}?state=merged`)).text).toContain(`href="${base}/1"`);
  });
});
