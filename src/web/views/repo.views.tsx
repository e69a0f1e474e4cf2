import type { Child } from 'hono/jsx';
import { query, shortId, size, when } from './format.ts';
import { type Chrome, Layout } from './layout.tsx';

export interface RepoView {
  owner: string;
  slug: string;
  name: string;
  description: string;
  visibility: string;
  defaultBranch: string;
  /** Whether the viewer may open settings (admin). */
  isAdmin: boolean;
  /** Only the owner may delete. */
  isOwner: boolean;
  /** Write permission: close or reopen anyone's issue, merge a proposal. */
  canWrite: boolean;
  /** Signed in and able to read: open issues and proposals, comment. */
  canComment: boolean;
}

export interface CommitLine {
  commit_id: string;
  message: string;
  author: string;
  committed_at: string;
}

export interface FileEntry {
  name: string;
  objectId: string;
  size: number | null;
}

export interface Listing {
  /** The folder shown, '' for the top, else ending in '/'. */
  path: string;
  dirs: string[];
  files: FileEntry[];
}

type Tab = 'files' | 'commits' | 'issues' | 'proposals' | 'settings';

export const repoBase = (r: { owner: string; slug: string }) => `/${r.owner}/${r.slug}`;

export function RepoPage({
  chrome,
  repo,
  tab,
  title,
  branch,
  children,
}: {
  chrome: Chrome;
  repo: RepoView;
  tab: Tab;
  title?: string;
  /** The branch shown, kept when moving between Files and Commits. */
  branch?: string | null;
  children?: Child;
}) {
  const base = repoBase(repo);
  const onBranch = query({ branch: branch && branch !== repo.defaultBranch ? branch : undefined });
  const tabs: [Tab, string, string][] = [
    ['files', 'Files', `${base}${onBranch}`],
    ['commits', 'Commits', `${base}/commits${onBranch}`],
    ['issues', 'Issues', `${base}/issues`],
    ['proposals', 'Proposals', `${base}/proposals`],
  ];
  if (repo.isAdmin) tabs.push(['settings', 'Settings', `${base}/settings`]);
  return (
    <Layout title={title ?? `${repo.owner}/${repo.slug}`} chrome={chrome}>
      <div class="repo-head">
        <h1>
          <a href={`/${repo.owner}`}>{repo.owner}</a> / <a href={base}>{repo.slug}</a>{' '}
          <span class="badge">{repo.visibility}</span>
        </h1>
        {repo.description ? <p class="description">{repo.description}</p> : null}
        <nav class="tabs">
          {tabs.map(([id, label, href]) => (
            <a href={href} class={id === tab ? 'current' : undefined} aria-current={id === tab ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
      </div>
      {children}
    </Layout>
  );
}

export function CommitList({ commits }: { commits: CommitLine[] }) {
  if (!commits.length) return <p class="empty">No commits yet.</p>;
  return (
    <ol class="commits">
      {commits.map((c) => (
        <li>
          <span class="message">{c.message.split('\n')[0] || '(no message)'}</span>
          <span class="meta">
            <code>{shortId(c.commit_id)}</code> {c.author ? `by ${c.author}` : ''}{' '}
            {c.committed_at ? when(c.committed_at) : ''}
          </span>
        </li>
      ))}
    </ol>
  );
}

function BranchSwitcher({ action, branches, branch }: { action: string; branches: string[]; branch: string }) {
  return (
    <form method="get" action={action} class="branch">
      <label>
        Branch{' '}
        <select name="branch" data-autosubmit>
          {branches.map((b) => (
            <option value={b} selected={b === branch}>
              {b}
            </option>
          ))}
        </select>
      </label>{' '}
      <button type="submit">Switch</button>
    </form>
  );
}

export function RepoHomePage(props: {
  chrome: Chrome;
  repo: RepoView;
  cloneUrl: string;
  branches: string[];
  branch: string | null;
  listing: Listing;
  commits: CommitLine[];
}) {
  const { repo, branch, listing } = props;
  const base = repoBase(repo);
  const at = (path: string) => `${base}${query({ branch: branch ?? undefined, path: path || undefined })}`;
  const crumbs = listing.path.split('/').filter(Boolean);
  return (
    <RepoPage chrome={props.chrome} repo={repo} tab="files" branch={branch}>
      <section class="clone">
        <label>
          Clone <input readonly value={`muse clone ${props.cloneUrl}`} aria-label="clone command" />
        </label>
      </section>
      {branch === null ? (
        <p class="empty">This repo is empty: push to it with the muse client.</p>
      ) : (
        <>
          <BranchSwitcher action={base} branches={props.branches} branch={branch} />
          <nav class="crumbs" aria-label="folder">
            <a href={at('')}>{repo.slug}</a>
            {crumbs.map((name, i) => (
              <>
                {' / '}
                <a href={at(`${crumbs.slice(0, i + 1).join('/')}/`)}>{name}</a>
              </>
            ))}
          </nav>
          <table class="files">
            <thead>
              <tr>
                <th>Name</th>
                <th class="num">Size</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {listing.dirs.map((d) => (
                <tr>
                  <td>
                    <a href={at(`${listing.path}${d}/`)}>{`${d}/`}</a>
                  </td>
                  <td />
                  <td />
                </tr>
              ))}
              {listing.files.map((f) => (
                <tr>
                  <td class="name">{f.name}</td>
                  <td class="num">{f.size === null ? '' : size(f.size)}</td>
                  <td>
                    <a href={`/o/${f.objectId}`} download={f.name}>
                      Download
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {listing.dirs.length + listing.files.length === 0 ? <p class="empty">No files here.</p> : null}
          <h2>
            Latest commits <a href={`${base}/commits${query({ branch })}`}>(all)</a>
          </h2>
          <CommitList commits={props.commits} />
        </>
      )}
    </RepoPage>
  );
}

export function CommitsPage(props: {
  chrome: Chrome;
  repo: RepoView;
  branches: string[];
  branch: string | null;
  commits: CommitLine[];
}) {
  const base = repoBase(props.repo);
  return (
    <RepoPage
      chrome={props.chrome}
      repo={props.repo}
      tab="commits"
      title={`Commits · ${base.slice(1)}`}
      branch={props.branch}
    >
      {props.branch === null ? (
        <p class="empty">No commits yet.</p>
      ) : (
        <>
          <BranchSwitcher action={`${base}/commits`} branches={props.branches} branch={props.branch} />
          <CommitList commits={props.commits} />
        </>
      )}
    </RepoPage>
  );
}
