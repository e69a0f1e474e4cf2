import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Semaphore } from '../middleware/limits.ts';
import type { RepoAccess } from '../repos/access.ts';
import type { RepoLivenessCache } from '../repos/index.ts';
import { reposToJson } from '../repos/repo.json.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import type { AuthUser } from '../users/index.ts';

export interface McpDeps {
  orm: MikroORM;
  store: ObjectStore;
  cache: RepoLivenessCache;
  publicUrl: string;
  log: Logger;
  /** Tool and resource calls running at once in this process (routes.ts sizes it). */
  callSlots: Semaphore;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** The caller of this request: the HTTP layer authenticated it and passed it in authInfo. */
export const callerOf = (extra: Extra): AuthUser | null =>
  ((extra.authInfo?.extra as { user?: AuthUser | null } | undefined)?.user ?? null) as AuthUser | null;

/** Every tool that names a repo takes one of these two forms, as MuseHub's tools do. */
export const RepoRef = {
  repo_id: z.string().max(64).optional().describe('The repo id (a UUID)'),
  owner: z.string().max(64).optional().describe("The owner's username, with slug"),
  slug: z.string().max(128).optional().describe('The repo slug, with owner'),
};
export const Limit = z.number().int().min(1).max(100).optional().describe('At most this many (default 30)');
export const Number_ = z.number().int().min(1).max(2_147_483_647).describe('The issue or proposal number');
export const State = z.enum(['open', 'closed', 'all']).optional().describe('Default: open');
export const PrState = z.enum(['open', 'closed', 'merged', 'all']).optional().describe('Default: open');

export const Repo = z.looseObject({ repoId: z.string(), owner: z.string(), slug: z.string() });
export const Issue = z.looseObject({ number: z.number(), title: z.string(), state: z.string() });
export const Proposal = z.looseObject({ number: z.number(), title: z.string(), state: z.string() });

export const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
export const WRITE = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };

/**
 * What every tool is registered through: its name listed, its body run in one of the process's
 * call slots on its own EntityManager, and any error that is not the hub's own read as internal.
 */
export function toolKit(server: McpServer, deps: McpDeps) {
  const { orm, publicUrl } = deps;
  const names: string[] = [];

  /** Runs a tool body on its own EntityManager; any error that is not the hub's own reads as internal. */
  function tool<I extends z.ZodRawShape, O extends z.ZodRawShape>(
    name: string,
    config: { title: string; description: string; input: I; output: O; annotations: typeof READ },
    body: (
      args: z.infer<z.ZodObject<I>>,
      ctx: { em: EntityManager; user: AuthUser | null },
    ) => Promise<{ text: string; data: z.infer<z.ZodObject<O>> }>,
  ) {
    names.push(name);
    server.registerTool(
      name,
      {
        title: config.title,
        description: config.description,
        inputSchema: config.input,
        outputSchema: config.output,
        annotations: { title: config.title, ...config.annotations },
      },
      // biome-ignore lint/suspicious/noExplicitAny: the SDK infers argument types from the shape; ours are checked by it
      (async (args: any, extra: Extra) => {
        try {
          const { text, data } = await deps.callSlots.run(() =>
            body(args, { em: orm.em.fork(), user: callerOf(extra) }),
          );
          return { content: [{ type: 'text' as const, text }], structuredContent: data };
        } catch (err) {
          if (err instanceof GatewayError) throw err;
          deps.log.error({ err, tool: name }, 'MCP tool failed');
          throw new Error('internal error');
        }
        // biome-ignore lint/suspicious/noExplicitAny: see above
      }) as any,
    );
  }

  const repoJson = async (em: EntityManager, repo: RepoAccess['repo']) =>
    (await reposToJson(em, [repo], publicUrl))[0]!;

  return { tool, names, repoJson };
}

export type ToolKit = ReturnType<typeof toolKit>;
