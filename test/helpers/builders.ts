import { expect } from 'vitest';
import type { TestGateway } from './gateway.ts';
import { makeCommit, makeSnapshot, pushAll } from './muse.ts';

export interface RepoBody {
  repoId: string;
  owner: string;
  slug: string;
  visibility: 'public' | 'private';
}

let counter = 0;

/** Creates a repo through the API (private unless asked otherwise) and returns its JSON. */
export async function createRepo(
  gw: TestGateway,
  token: string,
  opts: { name?: string; visibility?: 'public' | 'private' } = {},
): Promise<RepoBody> {
  const res = await gw.request('POST', '/api/v1/repos', {
    token,
    json: { name: opts.name ?? `repo ${++counter}`, visibility: opts.visibility ?? 'private' },
  });
  expect(res.status).toBe(201);
  return res.json();
}

export async function addCollaborator(
  gw: TestGateway,
  ownerToken: string,
  repoId: string,
  username: string,
  permission: 'read' | 'write' | 'admin',
) {
  const res = await gw.request('PUT', `/api/v1/repos/${repoId}/collaborators/${username}`, {
    token: ownerToken,
    json: { permission },
  });
  expect([200, 201]).toContain(res.status);
}

/** The exact body of the gateway's one repo 404. */
export const REPO_404 = '{"detail":"repo not found","code":"repo_not_found"}';

export async function expectRepo404(res: Response) {
  expect(res.status).toBe(404);
  expect(await res.text()).toBe(REPO_404);
}

/** A public repo with one commit pushed to main (a.txt = "base"): the usual starting point. */
export async function createPushedRepo(gw: TestGateway, token: string, name: string) {
  const repo = await createRepo(gw, token, { name, visibility: 'public' });
  const remote = `/${repo.owner}/${repo.slug}`;
  const { snapshot, objects } = makeSnapshot({ 'a.txt': 'base' });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
  expect((await pushAll(gw, remote, token, { commits: [commit], snapshots: [snapshot], objects })).status).toBe(200);
  return { repo, remote, head: commit.commit_id };
}
