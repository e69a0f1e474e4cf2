import { query, when } from './format.ts';
import { type Chrome, Csrf, FormError } from './layout.tsx';
import { RepoPage, type RepoView, repoBase } from './repo.views.tsx';

export interface IssueLine {
  number: number;
  title: string;
  state: string;
  author: string;
  labels?: string[];
  createdAt: string;
}

export interface CommentLine {
  author: string;
  body: string;
  createdAt: string;
}

function StateFilter({ action, states, state }: { action: string; states: string[]; state: string }) {
  return (
    <nav class="filter" aria-label="state">
      {states.map((s) => (
        <a href={`${action}${query({ state: s })}`} class={s === state ? 'current' : undefined}>
          {s[0]!.toUpperCase() + s.slice(1)}
        </a>
      ))}
    </nav>
  );
}

function ThreadList({ items, href, noun }: { items: IssueLine[]; href: (n: number) => string | null; noun: string }) {
  if (!items.length) return <p class="empty">{`No ${noun} here.`}</p>;
  return (
    <ul class="threads">
      {items.map((i) => {
        const link = href(i.number);
        return (
          <li>
            <span class={`state ${i.state}`}>{i.state}</span> {link ? <a href={link}>{i.title}</a> : i.title}
            {(i.labels ?? []).map((l) => (
              <span class="label">{l}</span>
            ))}
            <span class="meta">{`#${i.number} opened ${when(i.createdAt)} by ${i.author}`}</span>
          </li>
        );
      })}
    </ul>
  );
}

export function IssuesPage(props: { chrome: Chrome; repo: RepoView; state: string; issues: IssueLine[] }) {
  const base = repoBase(props.repo);
  return (
    <RepoPage chrome={props.chrome} repo={props.repo} tab="issues" title={`Issues · ${base.slice(1)}`}>
      <StateFilter action={`${base}/issues`} states={['open', 'closed', 'all']} state={props.state} />
      {props.repo.canComment ? (
        <p class="actions">
          <a href={`${base}/issues/new`} class="button">
            New issue
          </a>
        </p>
      ) : null}
      <ThreadList items={props.issues} href={(n) => `${base}/issues/${n}`} noun="issues" />
    </RepoPage>
  );
}

/** What the viewer may do on one issue or proposal, decided by the route from the same rule the service applies. */
export interface ThreadActions {
  comment: boolean;
  /** The states the viewer may move it to, with the button's words. */
  moves: { state: string; label: string }[];
}

export function ThreadPage(props: {
  chrome: Chrome;
  repo: RepoView;
  kind: 'issue' | 'proposal';
  thread: IssueLine & { body: string; fromBranch?: string; toBranch?: string };
  comments: CommentLine[];
  actions: ThreadActions;
  error?: string | undefined;
}) {
  const { thread, kind } = props;
  const base = `${repoBase(props.repo)}/${kind === 'issue' ? 'issues' : 'proposals'}/${thread.number}`;
  const noun = kind === 'issue' ? 'Issue' : 'Proposal';
  return (
    <RepoPage
      chrome={props.chrome}
      repo={props.repo}
      tab={kind === 'issue' ? 'issues' : 'proposals'}
      title={`${thread.title} · ${noun} #${thread.number} · ${repoBase(props.repo).slice(1)}`}
    >
      <article class={kind}>
        <h2>
          {thread.title} <span class="number">{`#${thread.number}`}</span>
        </h2>
        <p class="meta">
          <span class={`state ${thread.state}`}>{thread.state}</span>{' '}
          {thread.fromBranch ? `${thread.fromBranch} → ${thread.toBranch} · ` : ''}
          {`opened ${when(thread.createdAt)} by ${thread.author}`}
          {(thread.labels ?? []).map((l) => (
            <span class="label">{l}</span>
          ))}
        </p>
        <div class="body">{thread.body || 'No description.'}</div>
      </article>
      <h3>{`${props.comments.length} comment${props.comments.length === 1 ? '' : 's'}`}</h3>
      {props.comments.map((c) => (
        <article class="comment">
          <p class="meta">{`${c.author} · ${when(c.createdAt)}`}</p>
          <div class="body">{c.body}</div>
        </article>
      ))}
      <FormError message={props.error} />
      {props.actions.comment ? (
        <form method="post" action={`${base}/comments`} class="card">
          <Csrf token={props.chrome.csrf} />
          <label>
            <span>Add a comment</span>
            <textarea name="body" rows={4} maxlength={65536} required />
          </label>
          <button type="submit">Comment</button>
        </form>
      ) : null}
      {props.actions.moves.length ? (
        <form method="post" action={`${base}/state`} class="actions">
          <Csrf token={props.chrome.csrf} />
          {props.actions.moves.map((m) => (
            <button type="submit" name="state" value={m.state}>
              {m.label}
            </button>
          ))}
        </form>
      ) : null}
    </RepoPage>
  );
}

/** A new issue or proposal; `branches` (proposals) offers the repo's branches for from and to. */
export function NewThreadPage(props: {
  chrome: Chrome;
  repo: RepoView;
  kind: 'issue' | 'proposal';
  branches?: string[];
  values?: Record<string, string>;
  error?: string | undefined;
}) {
  const { kind, values = {} } = props;
  const list = `${repoBase(props.repo)}/${kind === 'issue' ? 'issues' : 'proposals'}`;
  const noun = kind === 'issue' ? 'issue' : 'proposal';
  const branchField = (name: 'fromBranch' | 'toBranch', label: string, chosen: string) => (
    <label>
      <span>{label}</span>
      <select name={name} required>
        {(props.branches ?? []).map((b) => (
          <option value={b} selected={b === chosen}>
            {b}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <RepoPage
      chrome={props.chrome}
      repo={props.repo}
      tab={kind === 'issue' ? 'issues' : 'proposals'}
      title={`New ${noun}`}
    >
      <form method="post" action={list} class="card">
        <Csrf token={props.chrome.csrf} />
        <h2>{`New ${noun}`}</h2>
        <label>
          <span>Title</span>
          <input name="title" value={values.title ?? ''} maxlength={256} required autocomplete="off" />
        </label>
        {kind === 'proposal' ? (
          props.branches && props.branches.length > 1 ? (
            <>
              {branchField(
                'fromBranch',
                'Merge from',
                values.fromBranch ?? props.branches.find((b) => b !== props.repo.defaultBranch) ?? '',
              )}
              {branchField('toBranch', 'into', values.toBranch ?? props.repo.defaultBranch)}
            </>
          ) : (
            <p class="help">A proposal merges one branch into another: push a second branch first.</p>
          )
        ) : null}
        <label>
          <span>Description</span>
          <textarea name="body" rows={8} maxlength={65536}>
            {values.body ?? ''}
          </textarea>
        </label>
        <FormError message={props.error} />
        <button type="submit">{`Open ${noun}`}</button>
      </form>
    </RepoPage>
  );
}

export function ProposalsPage(props: {
  chrome: Chrome;
  repo: RepoView;
  state: string;
  proposals: (IssueLine & { fromBranch: string; toBranch: string })[];
}) {
  const base = repoBase(props.repo);
  return (
    <RepoPage chrome={props.chrome} repo={props.repo} tab="proposals" title={`Proposals · ${base.slice(1)}`}>
      <StateFilter action={`${base}/proposals`} states={['open', 'closed', 'merged', 'all']} state={props.state} />
      {props.repo.canComment ? (
        <p class="actions">
          <a href={`${base}/proposals/new`} class="button">
            New proposal
          </a>
        </p>
      ) : null}
      <ThreadList
        items={props.proposals.map((p) => ({ ...p, title: `${p.title} (${p.fromBranch} → ${p.toBranch})` }))}
        href={(n) => `${base}/proposals/${n}`}
        noun="proposals"
      />
    </RepoPage>
  );
}
