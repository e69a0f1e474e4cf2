import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { LRUCache } from 'lru-cache';
import type { AuthEnv } from '../app-env.ts';
import { GatewayError } from '../errors.ts';
import { callerKey, RateBudget } from '../middleware/limits.ts';
import { jsonMayHoldNul, rejectNul } from '../text.ts';
import type { AuthUser } from '../users/index.ts';
import { registerResources } from './resources.ts';
import { type McpDeps, registerTools } from './tools.ts';

/** The largest JSON-RPC body accepted on /mcp: tool arguments are small (an issue body is 64 KiB at most). */
export const MCP_BODY_LIMIT = 256 * 1024;

const jsonRpcError = (
  status: 400 | 403 | 404 | 413 | 429,
  code: number,
  message: string,
  extra: Record<string, string> = {},
) =>
  new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), {
    status,
    // The rest of an oversized body is never read: the connection cannot carry another request
    // (without this, a client reusing it hung or saw it closed under its next request).
    headers: {
      'content-type': 'application/json',
      ...(status === 413 ? { connection: 'close' } : {}),
      ...extra,
    },
  });

/**
 * Origins allowed to call /mcp from a browser: the hub's own and loopback (the MCP spec asks
 * servers to check Origin against DNS rebinding). Requests without Origin (every non-browser
 * client) pass.
 */
export function originAllowed(origin: string, publicUrl: string): boolean {
  try {
    const o = new URL(origin);
    if (o.origin === new URL(publicUrl).origin) return true;
    return ['localhost', '127.0.0.1', '[::1]'].includes(o.hostname);
  } catch {
    return false;
  }
}

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
}

/**
 * Streamable HTTP at /mcp: POST for requests, GET for the server-to-client stream, DELETE to end
 * a session. Every request is authenticated on its own (the Authorization header, as on REST: a
 * revoked token is refused on the next request of an open session).
 *
 * Session ids are signed for the user who opened them (HMAC with the presign key, which every
 * process of a deployment shares), so a session cannot be taken over by another caller. This
 * process keeps the sessions it opened; a request for a session another worker or machine opened
 * is served here statelessly (tool calls need no session state), so `--workers` and several
 * machines work without sticky connections.
 */
export function mcpRoutes(deps: McpDeps & { key: Buffer; rateLimitPerMinute: number }) {
  // The transport's budget per caller (MUSEHUB_RATE_LIMIT_PER_MINUTE), spent once per JSON-RPC
  // message: a batch of 100 tool calls costs 100, not 1.
  const budget = deps.rateLimitPerMinute > 0 ? new RateBudget(deps.rateLimitPerMinute) : null;
  const sign = (nonce: string, user: AuthUser | null) =>
    createHmac('sha256', deps.key)
      .update(`mcp-session\n${nonce}\n${user?.userId ?? 'anonymous'}`)
      .digest('base64url');
  const newSessionId = (user: AuthUser | null) => {
    const nonce = randomBytes(16).toString('base64url');
    return `${nonce}.${sign(nonce, user)}`;
  };
  const signedFor = (id: string, user: AuthUser | null) => {
    const [nonce, mac] = id.split('.');
    if (!nonce || !mac) return false;
    const want = Buffer.from(sign(nonce, user));
    const got = Buffer.from(mac);
    return got.length === want.length && timingSafeEqual(got, want);
  };
  const sessions = new LRUCache<string, Session>({
    max: 10_000,
    ttl: 30 * 60_000,
    updateAgeOnGet: true,
    dispose: (s) => {
      void s.transport.close();
    },
  });

  const serverFor = () => {
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
  };

  const app = new Hono<AuthEnv>();
  app.use(
    '/mcp',
    bodyLimit({
      maxSize: MCP_BODY_LIMIT,
      onError: () => jsonRpcError(413, -32600, `request body is larger than ${MCP_BODY_LIMIT} bytes`),
    }),
  );
  app.all('/mcp', async (c) => {
    const origin = c.req.header('origin');
    if (origin && !originAllowed(origin, deps.publicUrl)) {
      return jsonRpcError(403, -32000, `origin ${origin} may not call this server`);
    }
    if (c.req.method === 'POST') {
      // Read from a copy: the transport reads the request itself.
      const text = await c.req.raw.clone().text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        // The transport answers a body that is not JSON with its own parse error.
      }
      if (budget) {
        const calls = Array.isArray(parsed) ? Math.max(1, parsed.length) : 1;
        const wait = budget.take(callerKey(c), calls);
        if (wait) {
          const who = c.get('user') ? 'per user' : 'per address';
          return jsonRpcError(
            429,
            -32000,
            `too many MCP requests (${deps.rateLimitPerMinute} calls a minute ${who}; this one carries ${calls}); retry in ${wait} s`,
            { 'retry-after': String(wait) },
          );
        }
      }
      // The same NUL rule as REST.
      if (parsed !== undefined && jsonMayHoldNul(text)) {
        try {
          rejectNul(parsed);
        } catch (err) {
          if (err instanceof GatewayError) return jsonRpcError(400, -32602, err.detail);
        }
      }
    }
    const user = c.var.user;
    const authInfo = { token: '', clientId: user?.username ?? 'anonymous', scopes: [], extra: { user } };
    const id = c.req.header('mcp-session-id');
    if (id) {
      if (!signedFor(id, user)) return jsonRpcError(404, -32001, 'Session not found');
      const local = sessions.get(id);
      if (local) {
        const res = await local.transport.handleRequest(c.req.raw, { authInfo });
        if (c.req.method === 'DELETE') sessions.delete(id);
        return res;
      }
      // Opened by another process: served statelessly here.
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      await serverFor().connect(transport);
      return transport.handleRequest(c.req.raw, { authInfo });
    }
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => newSessionId(user),
      onsessioninitialized: (sid) => {
        sessions.set(sid, { transport, server });
      },
    });
    const server = serverFor();
    await server.connect(transport);
    return transport.handleRequest(c.req.raw, { authInfo });
  });
  return app;
}
