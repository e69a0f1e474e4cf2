import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { registerResources } from './resources.ts';
import { type McpDeps, registerTools } from './tools.ts';

export { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';

/** One MCP server with the hub's tools and resources (routes.ts loads this module on the first /mcp request). */
export function createMcpServer(deps: McpDeps): McpServer {
  const server = new McpServer(
    { name: 'musehub-gateway', version: '0.1.0' },
    {
      capabilities: { tools: {}, resources: {} },
      instructions: 'MuseHub: repos, branches, issues and proposals of a muse hub.',
    },
  );
  registerTools(server, deps);
  registerResources(server, deps);
  return server;
}
