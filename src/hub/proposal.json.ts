import { usernamesById } from '../users/index.ts';
import type { Proposal } from './hub.entity.ts';

/** Proposals as REST, MCP and the pages show them, their authors' names read in one query. */
export async function proposalsToJson(em: Parameters<typeof usernamesById>[0], rows: Proposal[]) {
  const names = await usernamesById(
    em,
    rows.map((r) => r.authorUserId),
  );
  return rows.map((p) => ({
    proposalId: p.proposalId,
    repoId: p.repoId,
    number: p.number,
    title: p.title,
    body: p.body,
    fromBranch: p.fromBranch,
    toBranch: p.toBranch,
    state: p.state,
    author: names.get(p.authorUserId) ?? '',
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
    closedAt: p.closedAt?.toISOString() ?? null,
    mergedAt: p.mergedAt?.toISOString() ?? null,
  }));
}
