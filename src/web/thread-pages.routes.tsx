import type { z } from 'zod';
import { BadRequestError, GatewayError, NotFoundError } from '../errors.ts';
import { CommentInput } from '../hub/comment.schema.ts';
import { addComment, listComments } from '../hub/comment.service.ts';
import { issuesToJson } from '../hub/issue.json.ts';
import { createIssue, getIssue, updateIssue } from '../hub/issue.service.ts';
import { proposalsToJson } from '../hub/proposal.json.ts';
import { createProposal, getProposal, updateProposal } from '../hub/proposal.service.ts';
import { ThreadBody, ThreadTitle } from '../hub/thread.schema.ts';
import { requireUser } from '../middleware/auth.ts';
import type { RepoAccess } from '../repos/access.ts';
import { chooseBranch } from '../repos/browse.ts';
import type { AuthUser } from '../users/index.ts';
import { usernamesById } from '../users/index.ts';
import type { PageContext, PageKit } from './kit.routes.tsx';
import { repoFor } from './repo-pages.routes.tsx';
import { NewThreadPage, type ThreadActions, ThreadPage } from './views/hub.views.tsx';

const COMMENT_LIMIT = 100;
type Kind = 'issue' | 'proposal';
const plural = (kind: Kind) => (kind === 'issue' ? 'issues' : 'proposals');

/** A form field checked by the schema the REST API uses, or a 400 naming the field. */
function field<S extends z.ZodType>(schema: S, value: string | undefined, name: string): z.infer<S> {
  const parsed = schema.safeParse(value ?? '');
  if (!parsed.success) throw new BadRequestError(`${name}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

function threadNumber(c: PageContext, kind: Kind): number {
  const number = Number(c.req.param('number'));
  if (!Number.isSafeInteger(number) || number < 1) throw new NotFoundError(`${kind} not found`, `${kind}_not_found`);
  return number;
}

const signedIn = (access: RepoAccess): RepoAccess<AuthUser> => ({ ...access, user: requireUser(access.user) });

/** What a new proposal may merge from and into: the repo's branches (an issue needs none). */
const branchesFor = async (c: PageContext, kind: Kind, access: RepoAccess) =>
  kind === 'proposal' ? (await chooseBranch(c.var.em, access, undefined)).branches : undefined;

/** The state changes the viewer may make: the services' rule (author or writer; merging: writers), as buttons. */
function actionsFor(kind: Kind, access: RepoAccess, thread: { state: string; authorUserId: string }): ThreadActions {
  const user = access.user;
  if (!user) return { comment: false, moves: [] };
  const writer = access.permission === 'write' || access.permission === 'admin';
  if (!writer && thread.authorUserId !== user.userId) return { comment: true, moves: [] };
  const noun = kind === 'issue' ? 'issue' : 'proposal';
  if (thread.state === 'open') {
    const moves = [{ state: 'closed', label: `Close ${noun}` }];
    if (kind === 'proposal' && writer) moves.unshift({ state: 'merged', label: 'Merge proposal' });
    return { comment: true, moves };
  }
  if (thread.state === 'closed') return { comment: true, moves: [{ state: 'open', label: `Reopen ${noun}` }] };
  return { comment: true, moves: [] };
}

/** One issue or proposal as its page shows it, with its author's id (for what the viewer may do). */
async function threadRecord(c: PageContext, kind: Kind, access: RepoAccess, number: number) {
  const em = c.var.em;
  if (kind === 'issue') {
    const row = await getIssue(em, access, number);
    return { ...(await issuesToJson(em, [row]))[0]!, authorUserId: row.issue.authorUserId };
  }
  const row = await getProposal(em, access, number);
  return { ...(await proposalsToJson(em, [row]))[0]!, authorUserId: row.authorUserId };
}

/**
 * Issues and proposals on the pages: one of each with its comments, and the forms that open
 * them, comment on them and close, reopen or merge them — each through the service the REST API
 * and MCP use (so the same rules and webhooks), behind the session's form token; each says what
 * it did on the page it leads to.
 */
export function threadPages(kit: PageKit) {
  const { get, post, html, chromeOf, redirectWithFlash } = kit;

  async function threadView(c: PageContext, kind: Kind, error?: string, status: 200 | 400 | 409 = 200) {
    const number = threadNumber(c, kind);
    const { access, view } = await repoFor(c, 'read');
    const em = c.var.em;
    const record = await threadRecord(c, kind, access, number);
    const comments = (await listComments(em, access, kind, number, { limit: COMMENT_LIMIT })).items;
    const names = await usernamesById(
      em,
      comments.map((m) => m.authorUserId),
    );
    const lines = comments.map((m) => ({
      author: names.get(m.authorUserId) ?? '',
      body: m.body,
      createdAt: m.createdAt.toISOString(),
    }));
    const actions = actionsFor(kind, access, record);
    const page = (
      <ThreadPage
        chrome={chromeOf(c)}
        repo={view}
        kind={kind}
        thread={record}
        comments={lines}
        actions={actions}
        error={error}
      />
    );
    return html(c, page, status);
  }

  for (const kind of ['issue', 'proposal'] as const) {
    const list = plural(kind);

    get(`/:owner/:slug/${list}/new`, async (c) => {
      const { access, view } = await repoFor(c, 'comment');
      const branches = await branchesFor(c, kind, access);
      return html(c, <NewThreadPage chrome={chromeOf(c)} repo={view} kind={kind} branches={branches} />);
    });

    post(`/:owner/:slug/${list}`, async (c, form) => {
      const { access, view } = await repoFor(c, 'comment');
      try {
        const title = field(ThreadTitle, form.title, 'title');
        const body = field(ThreadBody, form.body, 'description');
        const number =
          kind === 'issue'
            ? (await createIssue(c.var.em, signedIn(access), { title, body })).issue.number
            : (
                await createProposal(c.var.em, signedIn(access), {
                  title,
                  body,
                  fromBranch: form.fromBranch ?? '',
                  toBranch: form.toBranch || undefined,
                })
              ).number;
        return redirectWithFlash(c, `/${view.owner}/${view.slug}/${list}/${number}`, `Opened ${kind} #${number}.`);
      } catch (err) {
        if (!(err instanceof GatewayError) || (err.status !== 400 && err.status !== 409)) throw err;
        const branches = await branchesFor(c, kind, access);
        const page = (
          <NewThreadPage
            chrome={chromeOf(c)}
            repo={view}
            kind={kind}
            branches={branches}
            values={form}
            error={`${err.detail}. Nothing was opened.`}
          />
        );
        return html(c, page, err.status);
      }
    });

    get(`/:owner/:slug/${list}/:number`, (c) => threadView(c, kind));

    post(`/:owner/:slug/${list}/:number/comments`, async (c, form) => {
      const number = threadNumber(c, kind);
      const { access, view } = await repoFor(c, 'comment');
      let body: string;
      try {
        body = field(CommentInput.shape.body, form.body, 'comment');
      } catch (err) {
        return threadView(c, kind, `${(err as GatewayError).detail}. Nothing was posted.`, 400);
      }
      await addComment(c.var.em, signedIn(access), kind, number, body);
      return redirectWithFlash(c, `/${view.owner}/${view.slug}/${list}/${number}`, 'Comment added.');
    });

    post(`/:owner/:slug/${list}/:number/state`, async (c, form) => {
      const number = threadNumber(c, kind);
      const { access, view } = await repoFor(c, 'comment');
      const states = kind === 'issue' ? ['open', 'closed'] : ['open', 'closed', 'merged'];
      const state = form.state ?? '';
      if (!states.includes(state)) return threadView(c, kind, `state is one of ${states.join(', ')}`, 400);
      try {
        if (kind === 'issue') {
          await updateIssue(c.var.em, signedIn(access), number, { state: state as 'open' | 'closed' });
        } else {
          await updateProposal(c.var.em, signedIn(access), number, { state: state as 'open' | 'closed' | 'merged' });
        }
      } catch (err) {
        if (!(err instanceof GatewayError) || err.status !== 409) throw err;
        return threadView(c, kind, err.detail, 409);
      }
      const done = { open: 'Reopened', closed: 'Closed', merged: 'Merged' }[state as 'open'];
      return redirectWithFlash(c, `/${view.owner}/${view.slug}/${list}/${number}`, `${done} ${kind} #${number}.`);
    });
  }
}
