import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { type McpDeps, toolKit } from './kit.ts';
import { registerCommentTools } from './tools/comments.ts';
import { registerHistoryTools } from './tools/history.ts';
import { registerIssueTools } from './tools/issues.ts';
import { registerProposalTools } from './tools/proposals.ts';
import { registerRepoTools } from './tools/repos.ts';

export { callerOf, type McpDeps } from './kit.ts';

/**
 * The hub's tools, with MuseHub's names and argument shapes, over the same services and the same
 * access rule as the REST API: every repo a tool names goes through requireRepoAccessTo
 * (repos/access.ts), so a deleted, private-to-the-caller or never-existing repo is the same tool
 * error, "repo not found", and a write lands before a concurrent delete or not at all (the
 * services write through inLiveRepo).
 */
export function registerTools(server: McpServer, deps: McpDeps): string[] {
  const kit = toolKit(server, deps);
  registerRepoTools(kit, deps);
  registerHistoryTools(kit, deps);
  registerIssueTools(kit);
  registerProposalTools(kit);
  registerCommentTools(kit);
  return kit.names;
}
