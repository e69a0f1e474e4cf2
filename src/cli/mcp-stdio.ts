import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

/**
 * `musehub mcp`: MCP over stdio for local agents, relayed message by message to a running
 * gateway's /mcp (MUSEHUB_URL, with MUSEHUB_TOKEN), like the other commands that act on a hub.
 * Not the database directly: the gateway is what owns liveness (its caches hear every delete on
 * every process), access and rate limits, and an agent's machine then needs a token, not
 * database credentials.
 */
export async function relayStdioToGateway(): Promise<void> {
  const base = (process.env.MUSEHUB_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const headers: Record<string, string> = {};
  if (process.env.MUSEHUB_TOKEN) headers.authorization = `Bearer ${process.env.MUSEHUB_TOKEN}`;
  const http = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } });
  const stdio = new StdioServerTransport();
  const fail = (err: Error) => process.stderr.write(`musehub mcp: ${err.message}\n`);
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await http.close().catch(() => undefined);
    await stdio.close().catch(() => undefined);
  };
  stdio.onmessage = (message) => {
    http.send(message).catch(fail);
  };
  http.onmessage = (message) => {
    stdio.send(message).catch(fail);
  };
  http.onerror = fail;
  stdio.onerror = fail;
  stdio.onclose = () => void close();
  await http.start();
  await stdio.start();
  await new Promise<void>((resolve) => {
    process.stdin.once('end', resolve);
    process.stdin.once('close', resolve);
  });
  await close();
}
