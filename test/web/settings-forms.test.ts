import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { addCollaborator, createRepo } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { wire } from '../helpers/muse.ts';
import { page, postForm, signIn, submitForm, type WebSession } from '../helpers/web.ts';

/**
 * The repo settings forms (issue 27) over plain HTTP: rename, description, visibility and delete,
 * each through the session, its CSRF token and the one access rule, each saying what it did
 * once on the next page (test/browser/pages.test.ts clicks through the same forms in chromium).
 */
type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let alice: U;
let bob: U;
let aliceWeb: WebSession;
let bobWeb: WebSession;

beforeAll(async () => {
  gw = await startTestGateway();
  alice = await gw.user('alice');
  bob = await gw.user('bob');
  aliceWeb = await signIn(gw, alice.token);
  bobWeb = await signIn(gw, bob.token);
});
afterAll(() => gw?.close());
afterEach(() => gw.expectIntegrity());

const submit = (web: WebSession, path: string, fields: Record<string, string>) => submitForm(gw, web, path, fields);

const rowOf = async (repoId: string) =>
  (
    await sql(
      gw.databaseUrl,
      'SELECT slug, name, description, visibility, deleted_at FROM musehub_repos WHERE repo_id = $1',
      [repoId],
    )
  )[0];

describe('settings forms', () => {
  test('rename: the repo moves, its old page address redirects, and the next page says so once', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Page Tune', visibility: 'public' });
    const { res, flash, cookie } = await submit(aliceWeb, '/alice/page-tune/settings/rename', {
      name: 'Page Tune Two',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/alice/page-tune-two/settings');
    expect(flash).toBeDefined();
    const shown = await page(gw, '/alice/page-tune-two/settings', cookie);
    expect(shown.text).toContain(
      'alice/page-tune is now alice/page-tune-two. The old address keeps leading here until another repo takes the name.',
    );
    // Shown once: the page that showed it clears it.
    expect(shown.setCookies.some((c) => /^musehub_flash=;/.test(c))).toBe(true);
    expect((await page(gw, '/alice/page-tune-two/settings', aliceWeb.cookie)).text).not.toContain('is now');
    const old = await page(gw, '/alice/page-tune/issues?state=all');
    expect([old.status, old.headers.get('location')]).toEqual([301, '/alice/page-tune-two/issues?state=all']);
    expect((await rowOf(repo.repoId))?.slug).toBe('page-tune-two');
  });

  test('description and visibility; a wrong typed name or a taken name changes nothing and says why', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Form Vis', visibility: 'public' });
    await createRepo(gw, alice.token, { name: 'Form Taken', visibility: 'public' });
    const described = await submit(aliceWeb, '/alice/form-vis/settings/description', { description: 'for the <band>' });
    expect(described.res.status).toBe(303);
    const after = await page(gw, '/alice/form-vis/settings', described.cookie);
    expect(after.text).toContain('Description saved.');
    expect(after.text).toContain('for the &lt;band&gt;');

    const before = await rowOf(repo.repoId);
    const wrong = await submit(aliceWeb, '/alice/form-vis/settings/visibility', {
      visibility: 'private',
      confirm: 'alice/form',
    });
    expect(wrong.res.status).toBe(400);
    expect(wrong.res.text).toContain('Type alice/form-vis exactly to confirm. Nothing was changed.');
    const taken = await submit(aliceWeb, '/alice/form-vis/settings/rename', { name: 'Form Taken' });
    expect(taken.res.status).toBe(409);
    expect(taken.res.text).toContain('you already have a repo named &#39;form-taken&#39;. Nothing was changed.');
    expect(await rowOf(repo.repoId)).toEqual(before);

    expect((await wire(gw, 'GET', '/alice/form-vis/refs')).status).toBe(200); // cached as public
    const hidden = await submit(aliceWeb, '/alice/form-vis/settings/visibility', {
      visibility: 'private',
      confirm: 'alice/form-vis',
    });
    expect(hidden.res.status).toBe(303);
    expect((await page(gw, '/alice/form-vis/settings', hidden.cookie)).text).toContain(
      'alice/form-vis is private: only its owner and collaborators can see it.',
    );
    expect((await wire(gw, 'GET', '/alice/form-vis/refs')).status).toBe(404);
    expect((await page(gw, '/alice/form-vis')).status).toBe(404);
  });

  test('a reader may not use any settings form (403), a stranger to a private repo gets the 404; nothing changes', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Form Guarded', visibility: 'private' });
    const forms: [string, Record<string, string>][] = [
      ['rename', { name: 'Stolen' }],
      ['description', { description: 'x' }],
      ['visibility', { visibility: 'public', confirm: 'alice/form-guarded' }],
    ];
    const before = await gw.fingerprint();
    for (const [form, fields] of forms) {
      expect((await submit(bobWeb, `/alice/form-guarded/settings/${form}`, fields)).res.status, form).toBe(404);
    }
    await addCollaborator(gw, alice.token, repo.repoId, 'bob', 'read');
    const withReader = await gw.fingerprint();
    for (const [form, fields] of forms) {
      expect((await submit(bobWeb, `/alice/form-guarded/settings/${form}`, fields)).res.status, form).toBe(403);
      // Without the session's form token, even the owner's post is refused.
      const forged = await postForm(
        gw,
        `/alice/form-guarded/settings/${form}`,
        { csrf: bobWeb.csrf, ...fields },
        aliceWeb.cookie,
      );
      expect(forged.status, form).toBe(403);
    }
    expect(await gw.fingerprint()).toBe(withReader);
    expect(withReader).not.toBe(before); // the collaborator row, and nothing else
  });

  test('delete and restore say what happened on the page they lead to', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Form Doomed', visibility: 'public' });
    const deleted = await submit(aliceWeb, '/alice/form-doomed/settings/delete', { confirm: 'alice/form-doomed' });
    expect([deleted.res.status, deleted.res.headers.get('location')]).toEqual([303, '/settings/deleted-repos']);
    expect((await page(gw, '/settings/deleted-repos', deleted.cookie)).text).toContain(
      'Deleted alice/form-doomed: it is gone for everyone. Restore it below, with its issues and proposals.',
    );
    const restored = await submit(aliceWeb, `/settings/deleted-repos/${repo.repoId}/restore`, {});
    expect([restored.res.status, restored.res.headers.get('location')]).toEqual([303, '/alice/form-doomed']);
    expect((await page(gw, '/alice/form-doomed', restored.cookie)).text).toContain('Restored alice/form-doomed.');
  });
});
