import { type McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { GatewayError } from '../errors.ts';
import { branchHeads } from '../history/history.store.ts';
import { issuesToJson } from '../hub/issue.json.ts';
import { listIssues } from '../hub/issue.service.ts';
import { type RepoAccess, requireRepoAccessTo } from '../repos/access.ts';
import { reposToJson } from '../repos/repo.json.ts';
import { callerOf, type McpDeps } from './kit.ts';

/**
 * The main read views as resource templates: a repo, its branches, its open issues. Reading one
 * goes through the same access rule as the tools, so a deleted, private-to-the-caller or
 * never-existing repo is the same error, "repo not found".
 */
export function registerResources(server: McpServer, deps: McpDeps): void {
  const views = {
    repo: {
      uri: 'musehub://repos/{owner}/{slug}',
      description: 'A repo: name, visibility, default branch, clone URL',
      read: async (em: Parameters<typeof reposToJson>[0], a: RepoAccess) =>
        (await reposToJson(em, [a.repo], deps.publicUrl))[0],
    },
    branches: {
      uri: 'musehub://repos/{owner}/{slug}/branches',
      description: "A repo's branches and their heads",
      read: async (em: Parameters<typeof reposToJson>[0], a: RepoAccess) => branchHeads(em, a.repo.repoId),
    },
    issues: {
      uri: 'musehub://repos/{owner}/{slug}/issues',
      description: "A repo's open issues, newest first (at most 100)",
      read: async (em: Parameters<typeof reposToJson>[0], a: RepoAccess) =>
        issuesToJson(em, (await listIssues(em, a, 'open', { limit: 100, cursor: undefined })).items),
    },
  };
  for (const [name, view] of Object.entries(views)) {
    server.registerResource(
      `musehub_${name}`,
      new ResourceTemplate(view.uri, { list: undefined }),
      { description: view.description, mimeType: 'application/json' },
      async (uri, variables, extra) => {
        const em = deps.orm.em.fork();
        const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
        try {
          const ref = { owner: one(variables.owner), slug: one(variables.slug) };
          const body = await deps.callSlots.run(async () =>
            view.read(em, await requireRepoAccessTo(em, callerOf(extra), ref, 'read')),
          );
          return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(body) }] };
        } catch (err) {
          // The MCP specification's "resource not found" (-32002) for every 404 — missing,
          // deleted and private alike; other refusals are the caller's (invalid params).
          if (err instanceof GatewayError) {
            throw new McpError(err.status === 404 ? RESOURCE_NOT_FOUND : ErrorCode.InvalidParams, err.detail);
          }
          deps.log.error({ err, resource: uri.href }, 'MCP resource failed');
          throw new McpError(ErrorCode.InternalError, 'internal error');
        }
      },
    );
  }
}

const RESOURCE_NOT_FOUND = -32002;
