import { when } from './format.ts';
import { type Chrome, Csrf, FormError, Layout } from './layout.tsx';
import { RepoPage, type RepoView, repoBase } from './repo.views.tsx';

export const LandingPage = ({ chrome }: { chrome: Chrome }) => (
  <Layout title="Welcome" chrome={chrome}>
    <h1>MuseHub</h1>
    <p>
      Repositories for music and code, pushed and cloned with <code>muse</code>. <a href="/login">Sign in</a> to see
      yours.
    </p>
  </Layout>
);

/** Sign in by pasting an API token; `loginCsrf` is the double-submitted form secret. */
export const LoginPage = ({
  chrome,
  loginCsrf,
  next,
  error,
}: {
  chrome: Chrome;
  loginCsrf: string;
  next: string;
  error?: string | undefined;
}) => (
  <Layout title="Sign in" chrome={chrome}>
    <h1>Sign in</h1>
    <form method="post" action="/login" class="card">
      <input type="hidden" name="csrf" value={loginCsrf} />
      <input type="hidden" name="next" value={next} />
      <label>
        API token
        <input
          type="password"
          name="token"
          autocomplete="off"
          required
          placeholder="mh_…"
          aria-describedby="token-help"
        />
      </label>
      <FormError message={error} />
      <button type="submit">Sign in</button>
      <p id="token-help" class="help">
        Create one with <code>musehub token create &lt;username&gt;</code>, or get a one-time link with{' '}
        <code>musehub token create &lt;username&gt; --web</code>. Revoking the token signs this browser out.
      </p>
    </form>
  </Layout>
);

export const SignInLinkPage = ({
  chrome,
  loginCsrf,
  code,
  username,
}: {
  chrome: Chrome;
  loginCsrf: string;
  code: string;
  username: string | null;
}) => (
  <Layout title="Sign in" chrome={chrome}>
    <h1>Sign in</h1>
    {username ? (
      <form method="post" action={`/login/link/${code}`} class="card">
        <input type="hidden" name="csrf" value={loginCsrf} />
        <p>{`This link signs you in as ${username}. It works once.`}</p>
        <button type="submit">{`Sign in as ${username}`}</button>
      </form>
    ) : (
      <p class="error">
        This sign-in link was already used, has expired or its token was revoked. Ask for a new one, or{' '}
        <a href="/login">sign in with a token</a>.
      </p>
    )}
  </Layout>
);

export interface RepoCard {
  owner: string;
  slug: string;
  name: string;
  description: string;
  visibility: string;
  updatedAt: string;
}

export const UserPage = ({ chrome, username, repos }: { chrome: Chrome; username: string; repos: RepoCard[] }) => (
  <Layout title={username} chrome={chrome}>
    <h1>{username}</h1>
    {repos.length ? (
      <ul class="repos">
        {repos.map((r) => (
          <li>
            <a href={repoBase(r)}>{r.slug}</a> <span class="badge">{r.visibility}</span>
            {r.description ? <p class="description">{r.description}</p> : null}
            <span class="meta">{`updated ${when(r.updatedAt)}`}</span>
          </li>
        ))}
      </ul>
    ) : (
      <p class="empty">No repos to show.</p>
    )}
  </Layout>
);

/** Create a repo: what POST /api/v1/repos takes, as a form. */
export const NewRepoPage = ({
  chrome,
  values = {},
  error,
}: {
  chrome: Chrome;
  values?: Record<string, string>;
  error?: string | undefined;
}) => (
  <Layout title="New repo" chrome={chrome}>
    <h1>New repo</h1>
    <form method="post" action="/new" class="card">
      <Csrf token={chrome.csrf} />
      <label>
        <span>Name</span>
        <input
          name="name"
          value={values.name ?? ''}
          maxlength={100}
          required
          autocomplete="off"
          placeholder="Neo Soul"
        />
      </label>
      <p class="help">
        The address is <code>{chrome.user?.username ?? 'you'}/&lt;name in lower case, dashes for spaces&gt;</code>.
      </p>
      <label>
        <span>Description (optional)</span>
        <textarea name="description" maxlength={2000} rows={3}>
          {values.description ?? ''}
        </textarea>
      </label>
      <fieldset>
        <legend>Who can see it</legend>
        <label class="choice">
          <input type="radio" name="visibility" value="private" checked={values.visibility !== 'public'} /> Private: you
          and the collaborators you add
        </label>
        <label class="choice">
          <input type="radio" name="visibility" value="public" checked={values.visibility === 'public'} /> Public:
          anyone can read and clone it
        </label>
      </fieldset>
      <FormError message={error} />
      <button type="submit">Create repo</button>
    </form>
  </Layout>
);

export interface DeletedRepoLine {
  repoId: string;
  owner: string;
  slug: string;
  deletedAt: string;
  deletedBy: string | null;
  tombstoned: Record<string, number>;
  nameFree: boolean;
  cause: 'parent_deleted' | 'access_lost' | null;
  purgeAt: string | null;
}

/** Why someone else deleted a repo of yours (a private fork follows access to its parent). */
const CAUSE: Record<string, string> = {
  parent_deleted: 'The private repo it was forked from was deleted; this fork comes back if that repo is restored.',
  access_lost: 'You lost access to the private repo it was forked from.',
};

/** What a delete hid, in the cascade's order, singular or plural. */
const TOMBSTONED: [string, string, string][] = [
  ['issues', 'issue', 'issues'],
  ['issueComments', 'issue comment', 'issue comments'],
  ['proposals', 'proposal', 'proposals'],
  ['proposalComments', 'proposal comment', 'proposal comments'],
  ['webhooks', 'webhook', 'webhooks'],
];

function tombstonedText(counts: Record<string, number>): string {
  const parts = TOMBSTONED.filter(([key]) => (counts[key] ?? 0) > 0).map(
    ([key, one, many]) => `${counts[key]} ${counts[key] === 1 ? one : many}`,
  );
  return parts.length ? `with ${parts.join(', ')}` : 'nothing else was attached';
}

export const DeletedReposPage = ({
  chrome,
  repos,
  error,
}: {
  chrome: Chrome;
  repos: DeletedRepoLine[];
  error?: string | undefined;
}) => (
  <Layout title="Deleted repos" chrome={chrome}>
    <h1>Deleted repos</h1>
    <p class="help">
      Deleting a repo hides it and everything in it; nothing is erased until it is purged. Restore brings back the repo
      with exactly what its delete hid. Delete permanently removes it for good: it cannot be restored.
    </p>
    <FormError message={error} />
    {repos.length ? (
      <ul class="repos deleted">
        {repos.map((r) => (
          <li>
            <strong>{`${r.owner}/${r.slug}`}</strong>
            <span class="meta">
              {`deleted ${when(r.deletedAt)}${r.deletedBy ? ` by ${r.deletedBy}` : ''}, ${tombstonedText(r.tombstoned)}`}
            </span>
            {r.cause ? <p class="help">{CAUSE[r.cause]}</p> : null}
            <p class="meta">
              {r.purgeAt
                ? `Purged for good ${when(r.purgeAt)} unless restored.`
                : 'Kept until you restore or purge it.'}
            </p>
            {r.nameFree ? (
              <form method="post" action={`/settings/deleted-repos/${r.repoId}/restore`} class="inline">
                <Csrf token={chrome.csrf} />
                <button type="submit">{`Restore ${r.owner}/${r.slug}`}</button>
              </form>
            ) : (
              <p class="warning">
                {`A live repo is named ${r.owner}/${r.slug} now, so this one cannot be restored under that name.`}
              </p>
            )}
            <details class="danger">
              <summary>Delete permanently…</summary>
              <form
                method="post"
                action={`/settings/deleted-repos/${r.repoId}/purge`}
                data-confirm={`${r.owner}/${r.slug}`}
              >
                <Csrf token={chrome.csrf} />
                <label>
                  <span>
                    Type <strong>{`${r.owner}/${r.slug}`}</strong> to remove it for good
                  </span>
                  <input name="confirm" autocomplete="off" spellcheck={false} required />
                </label>
                <button type="submit" class="danger">{`Delete ${r.owner}/${r.slug} permanently`}</button>
              </form>
            </details>
          </li>
        ))}
      </ul>
    ) : (
      <p class="empty">You have no deleted repos.</p>
    )}
  </Layout>
);

/** The field a destructive form's button waits for (enhance.ts keeps it disabled until it matches). */
const TypedConfirmation = ({ fullName }: { fullName: string }) => (
  <label>
    <span>
      Type <strong>{fullName}</strong> to confirm
    </span>
    <input name="confirm" autocomplete="off" spellcheck={false} required />
  </label>
);

/** Which settings form an error belongs to (it is shown under that form). */
export type SettingsForm = 'rename' | 'description' | 'visibility' | 'delete';

export const SettingsPage = ({
  chrome,
  repo,
  error,
}: {
  chrome: Chrome;
  repo: RepoView;
  error?: { form: SettingsForm; message: string } | undefined;
}) => {
  const fullName = `${repo.owner}/${repo.slug}`;
  const errorFor = (form: SettingsForm) => (error?.form === form ? error.message : undefined);
  const base = repoBase(repo);
  const other = repo.visibility === 'public' ? 'private' : 'public';
  return (
    <RepoPage chrome={chrome} repo={repo} tab="settings" title={`Settings · ${fullName}`}>
      <form method="post" action={`${base}/settings/rename`} class="card">
        <Csrf token={chrome.csrf} />
        <h2>Name</h2>
        <label>
          <span>Repository name</span>
          <input name="name" value={repo.name} maxlength={100} required autocomplete="off" />
        </label>
        <p class="help">
          The address becomes <code>{repo.owner}/&lt;new-name&gt;</code>. The old address keeps leading here (pages and
          the API redirect; <code>muse</code> remotes keep working) until another repo takes the name.
        </p>
        <FormError message={errorFor('rename')} />
        <button type="submit">Rename</button>
      </form>
      <form method="post" action={`${base}/settings/description`} class="card">
        <Csrf token={chrome.csrf} />
        <h2>Description</h2>
        <label>
          <span>Description</span>
          <textarea name="description" maxlength={2000} rows={3}>
            {repo.description}
          </textarea>
        </label>
        <FormError message={errorFor('description')} />
        <button type="submit">Save description</button>
      </form>
      <dl class="facts">
        <dt>Default branch</dt>
        <dd>{repo.defaultBranch}</dd>
      </dl>
      <section class="danger">
        <h2>Danger zone</h2>
        <form method="post" action={`${base}/settings/visibility`} data-confirm={fullName}>
          <Csrf token={chrome.csrf} />
          <input type="hidden" name="visibility" value={other} />
          <p>
            This repo is <strong>{repo.visibility}</strong>.{' '}
            {other === 'private'
              ? 'Make it private: everyone but its owner and collaborators gets "not found" at once, its clone URL included.'
              : 'Make it public: anyone can read and clone it.'}
          </p>
          <TypedConfirmation fullName={fullName} />
          <FormError message={errorFor('visibility')} />
          <button type="submit" class="danger">{`Make ${other}`}</button>
        </form>
        {repo.isOwner ? null : <p>Only the owner, {repo.owner}, can delete this repo.</p>}
        <form hidden={!repo.isOwner} method="post" action={`${base}/settings/delete`} data-confirm={fullName}>
          <Csrf token={chrome.csrf} />
          <p>
            Delete this repo: it disappears for everyone at once, with its issues and proposals. You can restore it from{' '}
            <a href="/settings/deleted-repos">Deleted repos</a>.
          </p>
          <TypedConfirmation fullName={fullName} />
          <FormError message={errorFor('delete')} />
          <button type="submit" class="danger">
            Delete this repo
          </button>
        </form>
      </section>
    </RepoPage>
  );
};
