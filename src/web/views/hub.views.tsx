import { query, when } from './format.ts';
import type { Chrome } from './layout.tsx';
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
      <ThreadList items={props.issues} href={(n) => `${base}/issues/${n}`} noun="issues" />
    </RepoPage>
  );
}

export function IssuePage(props: {
  chrome: Chrome;
  repo: RepoView;
  issue: IssueLine & { body: string };
  comments: CommentLine[];
}) {
  const { issue } = props;
  return (
    <RepoPage
      chrome={props.chrome}
      repo={props.repo}
      tab="issues"
      title={`${issue.title} · Issue #${issue.number} · ${repoBase(props.repo).slice(1)}`}
    >
      <article class="issue">
        <h2>
          {issue.title} <span class="number">{`#${issue.number}`}</span>
        </h2>
        <p class="meta">
          <span class={`state ${issue.state}`}>{issue.state}</span>{' '}
          {`opened ${when(issue.createdAt)} by ${issue.author}`}
          {(issue.labels ?? []).map((l) => (
            <span class="label">{l}</span>
          ))}
        </p>
        <div class="body">{issue.body || 'No description.'}</div>
      </article>
      <h3>{`${props.comments.length} comment${props.comments.length === 1 ? '' : 's'}`}</h3>
      {props.comments.map((c) => (
        <article class="comment">
          <p class="meta">{`${c.author} · ${when(c.createdAt)}`}</p>
          <div class="body">{c.body}</div>
        </article>
      ))}
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
      <ThreadList
        items={props.proposals.map((p) => ({ ...p, title: `${p.title} (${p.fromBranch} → ${p.toBranch})` }))}
        href={() => null}
        noun="proposals"
      />
    </RepoPage>
  );
}
