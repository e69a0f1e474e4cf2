import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { LRUCache } from 'lru-cache';
import type { AuthEnv } from '../app-env.ts';
import { GatewayError } from '../errors.ts';
import { callerKey, InFlight, RateBudget } from '../middleware/limits.ts';
import { jsonMayHoldNul, rejectNul } from '../text.ts';
import type { AuthUser } from '../users/index.ts';
import type { McpDeps } from './tools.ts';

// The SDK, the tools and the resources are loaded on the first /mcp request: a worker that
// never serves an agent does not hold them.
let sdk: Promise<typeof import('./server.ts')> | undefined;
const loadSdk = () => {
  sdk ??= import('./server.ts');
  return sdk;
};

/** The largest JSON-RPC body accepted on /mcp: tool arguments are small (an issue body is 64 KiB at most). */
export const MCP_BODY_LIMIT = 256 * 1024;

/** MCP requests (POSTs) one caller — a user, or an address when anonymous — may have in flight. */
export const MCP_POSTS_PER_CALLER = 8;

/**
 * JSON-RPC messages one request may carry (a batch; MCP 2025-06-18 dropped batches, older
 * clients still send them), and the most of a caller's budget that can be spent at once: a fresh
 * budget of 600 calls spent in one go kept both cores busy for seconds (bench/flood.ts).
 */
export const MCP_BATCH_MAX = 100;

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
  const budget =
    deps.rateLimitPerMinute > 0
      ? new RateBudget(deps.rateLimitPerMinute, Math.min(deps.rateLimitPerMinute, MCP_BATCH_MAX))
      : null;
  // Tool calls run a few at a time per process (callSlots, MUSEHUB_MCP_MAX_CONCURRENT_CALLS: the
  // rest wait their turn), and a caller has at most MCP_POSTS_PER_CALLER requests in flight (the
  // next is refused), so a flood of batches cannot take the pool or both cores from the wire.
  const postsInFlight = new InFlight(MCP_POSTS_PER_CALLER);
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
    // GET is the long-lived stream of server messages, DELETE ends a session: neither runs tools.
    if (c.req.method !== 'POST') return serve(c);
    const caller = callerKey(c);
    if (!postsInFlight.enter(caller)) {
      const who = c.get('user') ? 'your user' : 'your address';
      return jsonRpcError(
        429,
        -32000,
        `${MCP_POSTS_PER_CALLER} MCP requests from ${who} are already in progress; retry when one has been answered`,
        { 'retry-after': '1' },
      );
    }
    let res: Response;
    try {
      res = await post(c);
    } catch (err) {
      postsInFlight.leave(caller);
      throw err;
    }
    // The answer to a request of tool calls is a stream the calls write into as they finish.
    return whenBodyEnds(res, () => postsInFlight.leave(caller));
  });

  /** A POST: the per-caller budget and the text rule, then the session's transport. */
  async function post(c: Context<AuthEnv>): Promise<Response> {
    // A caller with nothing left is refused before its body is read: a flood of refused
    // requests costs as little as it can.
    if (budget?.take(callerKey(c), 0)) return outOfBudget(c, 1);
    // Read from a copy: the transport reads the request itself.
    const text = await c.req.raw.clone().text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // The transport answers a body that is not JSON with its own parse error.
    }
    const calls = Array.isArray(parsed) ? Math.max(1, parsed.length) : 1;
    if (calls > MCP_BATCH_MAX) {
      return jsonRpcError(
        400,
        -32600,
        `a request may carry at most ${MCP_BATCH_MAX} messages; this one carries ${calls}`,
      );
    }
    if (budget?.take(callerKey(c), calls)) return outOfBudget(c, calls);
    // The same NUL rule as REST.
    if (parsed !== undefined && jsonMayHoldNul(text)) {
      try {
        rejectNul(parsed);
      } catch (err) {
        if (err instanceof GatewayError) return jsonRpcError(400, -32602, err.detail);
      }
    }
    return serve(c);
  }

  function outOfBudget(c: Context<AuthEnv>, calls: number): Response {
    const wait = budget!.secondsUntil(callerKey(c), calls);
    const who = c.get('user') ? 'per user' : 'per address';
    return jsonRpcError(
      429,
      -32000,
      `too many MCP requests (${deps.rateLimitPerMinute} calls a minute ${who}, at most ${budget!.burst} at once; this one carries ${calls}); retry in ${wait} s`,
      { 'retry-after': String(wait) },
    );
  }

  async function serve(c: Context<AuthEnv>): Promise<Response> {
    const { createMcpServer, WebStandardStreamableHTTPServerTransport } = await loadSdk();
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
      await createMcpServer(deps).connect(transport);
      return transport.handleRequest(c.req.raw, { authInfo });
    }
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => newSessionId(user),
      onsessioninitialized: (sid) => {
        sessions.set(sid, { transport, server });
      },
    });
    const server = createMcpServer(deps);
    await server.connect(transport);
    return transport.handleRequest(c.req.raw, { authInfo });
  }
  return app;
}

/** `res` with `done` called once when its body has been read to the end, failed or been cancelled. */
function whenBodyEnds(res: Response, done: () => void): Response {
  if (!res.body) {
    done();
    return res;
  }
  let called = false;
  const once = () => {
    if (!called) {
      called = true;
      done();
    }
  };
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done: end } = await reader.read();
        if (end) {
          once();
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        once();
        controller.error(err);
      }
    },
    cancel(reason) {
      once();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}
