import os from 'node:os';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { type Command, Option } from 'commander';
import { parseDuration } from '../duration.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { callApi } from './http-client.ts';
import { CliError, emit, type OutputOptions } from './output.ts';

interface RepoJson {
  repoId: string;
  owner: string;
  slug: string;
  name: string;
  visibility: string;
  cloneUrl: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `owner/slug` or a repo id → the REST path that reads it. */
export function repoPath(ref: string): string {
  if (UUID.test(ref)) return `/repos/${ref}`;
  const m = /^([^/\s]+)\/([^/\s]+)$/.exec(ref);
  if (!m) throw new CliError(`'${ref}' is neither owner/slug nor a repo id`);
  return `/users/${encodeURIComponent(m[1]!)}/repos/${encodeURIComponent(m[2]!)}`;
}

// The database stack (MikroORM, pg, migrations) loads only for commands that use it,
// so `musehub repo …` and `--help` start fast.
const withOrm = async <T>(fn: (orm: MikroORM) => Promise<T>, opts?: { migrate?: boolean }) =>
  (await import('./database.ts')).withOrm(fn, opts);
const withEm = async <T>(fn: (em: EntityManager, users: typeof import('../users/index.ts')) => Promise<T>) => {
  const users = await import('../users/index.ts');
  return (await import('./database.ts')).withEm((em) => fn(em, users));
};

export function registerAdminCommands(program: Command): void {
  const migrate = program.command('migrate').description('apply or revert database migrations');
  migrate
    .command('up')
    .option('--json', 'print JSON')
    .description('apply every pending migration')
    .action((o: OutputOptions) =>
      withOrm(
        async (orm) => {
          const applied = (await orm.getMigrator().up()).map((m) => m.name);
          emit(o, { applied }, applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
        },
        { migrate: false },
      ),
    );
  migrate
    .command('down')
    .option('--json', 'print JSON')
    .description('revert the newest applied migration')
    .action((o: OutputOptions) =>
      withOrm(
        async (orm) => {
          const reverted = (await orm.getMigrator().down()).map((m) => m.name);
          emit(o, { reverted }, reverted.length ? `reverted: ${reverted.join(', ')}` : 'nothing to revert');
        },
        { migrate: false },
      ),
    );
  migrate
    .command('status')
    .option('--json', 'print JSON')
    .description('list applied and pending migrations')
    .action((o: OutputOptions) =>
      withOrm(
        async (orm) => {
          const migrator = orm.getMigrator();
          const applied = (await migrator.getExecutedMigrations()).map((m) => m.name);
          const pending = (await migrator.getPendingMigrations()).map((m) => m.name);
          emit(
            o,
            { applied, pending },
            [...applied.map((n) => `applied  ${n}`), ...pending.map((n) => `pending  ${n}`)].join('\n'),
          );
        },
        { migrate: false },
      ),
    );

  const user = program.command('user').description('manage users (acts on the database directly)');
  user
    .command('create <username>')
    .option('--json', 'print JSON')
    .description('create a user and print their first token (shown once)')
    .action((username: string, o: OutputOptions) =>
      withEm(async (em, { createUser, createToken }) => {
        const created = await createUser(em, username);
        const { token, record } = await createToken(em, username, 'initial');
        emit(
          o,
          { userId: created.userId, username: created.username, tokenId: record.tokenId, token },
          `created user ${created.username}\ntoken (shown once): ${token}`,
        );
      }),
    );

  const token = program.command('token').description('manage API tokens (acts on the database directly)');
  token
    .command('create <username>')
    .option('--name <name>', 'a label for the token')
    .option('--web', 'print a one-time link that signs a browser in with a new token, instead of the token')
    .option('--json', 'print JSON')
    .description('create a token for a user (shown once)')
    .action((username: string, o: OutputOptions & { name?: string; web?: boolean }) =>
      withEm(async (em, { createToken }) => {
        const { token: value, record } = await createToken(em, username, o.name ?? (o.web ? 'web sign-in' : undefined));
        if (!o.web) {
          emit(
            o,
            { tokenId: record.tokenId, username, token: value },
            `token ${record.tokenId} (shown once): ${value}`,
          );
          return;
        }
        // The token itself is never shown: the link is the only way to use it, once.
        const { signInLink } = await import('../web/sign-in-link.ts');
        const link = await signInLink(em, record.tokenId);
        emit(
          o,
          { tokenId: record.tokenId, username, signInUrl: link.url, expiresAt: link.expiresAt },
          `open this link to sign in as ${username} (once, before ${link.expiresAt}):\n${link.url}\n` +
            `the session lasts until you sign out or run: musehub token revoke ${record.tokenId}`,
        );
      }),
    );
  token
    .command('revoke <tokenId>')
    .option('--json', 'print JSON')
    .description('revoke a token; requests using it get 401 from then on')
    .action((tokenId: string, o: OutputOptions) =>
      withEm(async (em, { revokeToken }) => {
        const revoked = await revokeToken(em, tokenId);
        emit(o, { tokenId: revoked.tokenId, revokedAt: revoked.revokedAt }, `revoked token ${revoked.tokenId}`);
      }),
    );

  program
    .command('fsck')
    .option('--json', 'print JSON')
    .option('--no-hash', 'skip re-hashing every stored object (only the database checks)')
    .description('check the integrity invariants; exit 1 if any is broken (read-only)')
    .action((o: OutputOptions & { hash: boolean }) =>
      withOrm(async (orm) => {
        const { checkIntegrity } = await import('../integrity/fsck.ts');
        const { openObjectStore } = await import('../storage/open.ts');
        const { loadConfig } = await import('../config.ts');
        const store = await openObjectStore(loadConfig(), orm);
        const progress = terminalProgress(o, 'fsck', (done, total) => `checked ${done} of ${total} objects`);
        const report = await checkIntegrity(orm.em.fork(), store, { hashBytes: o.hash, progress: progress?.update })
          .finally(() => progress?.end())
          .finally(() => store.close());
        const { branches, commits, snapshotObjects, objectsHashed } = report.checked;
        const { reclaimable } = report;
        const summary =
          `checked ${branches} branches, ${commits} commits, ${snapshotObjects} snapshot entries, ${objectsHashed} objects hashed\n` +
          `reclaimable (not a problem; musehub gc frees it): ${reclaimable.objects} object(s), ${(reclaimable.bytes / 1048576).toFixed(1)} MiB`;
        emit(
          o,
          report,
          report.ok
            ? `ok: ${summary}`
            : [
                `${report.problems.length} problem(s):`,
                ...report.problems.map((p) => `  ${p.check}: ${p.detail}`),
                summary,
              ].join('\n'),
        );
        if (!report.ok) throw new CliError('integrity check failed', 1);
      }),
    );
  program
    .command('gc')
    .option('--dry-run', 'report what a collection would remove; remove nothing')
    .option(
      '--grace <age>',
      'keep unnamed bytes stored more recently than this: 1h, 30m, 0s (safe while serving)',
      '1h',
    )
    .option('--staging', 'only remove uploads to the object store that no push verified (S3 store)')
    .option('--older-than <age>', 'with --staging: only uploads last written longer ago than this', '24h')
    .option('--limit <n>', 'with --staging: remove at most this many in one run', '100000')
    .option('--json', 'print JSON')
    .description('remove object bytes no repo row names, merge small packs, clear orphans (safe while serving)')
    .action((o: OutputOptions & GcCliOptions) =>
      withOrm(async (orm) => {
        const { openObjectStore } = await import('../storage/open.ts');
        const { loadConfig } = await import('../config.ts');
        const config = loadConfig();
        const store = await openObjectStore(config, orm);
        try {
          if (o.staging) return await sweepStaging(o, store, config.objectStore);
          const graceMs = parseAge(o.grace, '--grace');
          // Serving comes first: on a busy host the collection takes the CPU the gateway leaves.
          os.setPriority(os.constants.priority.PRIORITY_BELOW_NORMAL);
          const { collectGarbage, GcBusyError } = await import('../integrity/gc.ts');
          // Progress goes to a person watching, never into --json's one document.
          const progress =
            !o.json && process.stderr.isTTY ? (m: string) => process.stderr.write(`musehub gc: ${m}\n`) : undefined;
          const report = await collectGarbage(orm, store, { graceMs, dryRun: !!o.dryRun, progress }).catch((err) => {
            throw err instanceof GcBusyError ? new CliError(err.message, 75) : err;
          });
          if (!report) throw new CliError('another gc is running; try again when it has finished', 75);
          const mib = (n: number) => (n / 1048576).toFixed(1);
          const verb = report.dryRun ? 'would remove' : 'removed';
          emit(
            o,
            report,
            [
              `${verb} ${report.removed.objects} object(s), ${mib(report.removed.bytes)} MiB; ` +
                `${report.packs.retired} pack(s) rewritten as ${report.packs.written}`,
              `kept ${report.young.objects} unnamed object(s) younger than the ${o.grace} grace period`,
              ...(report.dryRun
                ? []
                : [`orphan files removed: ${report.orphans.files} (${mib(report.orphans.bytes)} MiB)`]),
              ...(report.staging ? [`staged uploads removed: ${report.staging.removed}`] : []),
              `took ${report.seconds.toFixed(1)} s`,
            ].join('\n'),
          );
        } finally {
          await store.close();
        }
      }),
    );
}

/**
 * One line on stderr that rewrites itself as work advances (at most every 200 ms), for a person
 * at a terminal; nothing when stderr is not a terminal or with --json.
 */
function terminalProgress(
  o: OutputOptions,
  command: string,
  text: (done: number, total: number) => string,
): { update: (done: number, total: number) => void; end: () => void } | undefined {
  if (o.json || !process.stderr.isTTY) return undefined;
  let last = 0;
  let shown = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < 200 && done < total) return;
      last = now;
      shown = true;
      process.stderr.write(`\r\x1b[2Kmusehub ${command}: ${text(done, total)}`);
    },
    end() {
      if (shown) process.stderr.write('\n');
    },
  };
}

interface GcCliOptions {
  dryRun?: boolean;
  grace: string;
  staging?: boolean;
  olderThan: string;
  limit: string;
}

async function sweepStaging(o: OutputOptions & GcCliOptions, store: ObjectStore, kind: string) {
  const age = parseAge(o.olderThan);
  const limit = Number(o.limit);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new CliError(`--limit: expected a positive whole number`);
  if (!store.directUploads) {
    emit(o, { removed: 0, kept: 0 }, `nothing to do: the ${kind} store has no staging area`);
    return;
  }
  const swept = await store.directUploads.sweep(new Date(Date.now() - age), limit);
  emit(o, swept, `removed ${swept.removed} staged upload(s) older than ${o.olderThan}; ${swept.kept} kept`);
}

export function registerPurgeCommand(program: Command): void {
  program
    .command('purge')
    .requiredOption('--older-than <age>', 'purge repos deleted longer ago than this: 30d, 12h, 0s')
    .option('--dry-run', 'list what would be purged; change nothing')
    .option('--json', 'print JSON')
    .description('remove deleted repos for good (operators; acts on the database directly)')
    .action((o: OutputOptions & { olderThan: string; dryRun?: boolean }) =>
      withEm(async (em) => {
        const { purgeExpired } = await import('../repos/purge.service.ts');
        const before = new Date(Date.now() - parseAge(o.olderThan));
        const result = await purgeExpired(em, before, { dryRun: !!o.dryRun });
        if (!result) throw new CliError('another process is purging right now; try again in a moment', 75);
        const lines = result.purged.map((r) => `  ${r.owner}/${r.slug} (${r.repoId})`);
        const skipped = result.skipped.map((r) => `  skipped ${r.repoId}: ${r.reason}`);
        const head = o.dryRun
          ? `would purge ${result.purged.length} deleted repo(s) deleted before ${before.toISOString()}`
          : `purged ${result.purged.length} deleted repo(s) deleted before ${before.toISOString()}`;
        emit(o, { dryRun: !!o.dryRun, ...result }, [head, ...lines, ...skipped].join('\n'));
      }),
    );
}

/** `30m`, `24h`, `7d`, `0s` → milliseconds, or a CliError naming the flag. */
export function parseAge(text: string, flag = '--older-than'): number {
  const ms = parseDuration(text);
  if (ms === null) throw new CliError(`${flag}: expected a number and a unit (s, m, h, d) such as 24h, got '${text}'`);
  return ms;
}

export function registerRepoCommands(program: Command): void {
  const repo = program.command('repo').description('repos on a running gateway (MUSEHUB_URL, MUSEHUB_TOKEN)');
  repo
    .command('create')
    .requiredOption('--name <name>', 'display name; the slug is derived from it')
    .option('--description <text>', 'description')
    .addOption(
      new Option('--visibility <visibility>', 'public or private (default private)').choices(['public', 'private']),
    )
    .option('--default-branch <branch>', 'default branch (default main)')
    .option('--json', 'print JSON')
    .description('create a repo owned by the token user')
    .action(
      async (
        o: OutputOptions & { name: string; description?: string; visibility?: string; defaultBranch?: string },
      ) => {
        const created = await callApi<RepoJson>('POST', '/repos', {
          name: o.name,
          description: o.description,
          visibility: o.visibility,
          defaultBranch: o.defaultBranch,
        });
        emit(o, created, `created ${created.owner}/${created.slug} (${created.visibility}) ${created.cloneUrl}`);
      },
    );
  repo
    .command('read <repo>')
    .option('--json', 'print JSON')
    .description('show a repo, by owner/slug or id')
    .action(async (ref: string, o: OutputOptions) => {
      const found = await callApi<RepoJson>('GET', repoPath(ref));
      emit(o, found, `${found.owner}/${found.slug}  ${found.visibility}  ${found.repoId}\n${found.cloneUrl}`);
    });
  repo
    .command('delete <repo>')
    .option('--yes', 'do not ask to type owner/slug to confirm (needed when not on a terminal)')
    .option('--json', 'print JSON')
    .description('soft-delete a repo (owner only): it answers 404 everywhere; nothing is destroyed')
    .action(async (ref: string, o: OutputOptions & { yes?: boolean }) => {
      if (!o.yes) await confirmByTyping(await fullNameOf(ref));
      const repoId = await repoIdOf(ref);
      await callApi('DELETE', `/repos/${repoId}`);
      emit(
        o,
        { repoId, deleted: true },
        `deleted ${ref} (repo id ${repoId}; restore with: musehub repo restore ${repoId})`,
      );
    });
  repo
    .command('rename <repo> <new-name>')
    .option('--json', 'print JSON')
    .description(
      'rename a repo (owner or admin): a new slug; the old name keeps leading to it until another repo takes it',
    )
    .action(async (ref: string, name: string, o: OutputOptions) => {
      const repoId = await repoIdOf(ref);
      const renamed = await callApi<RepoJson>('PATCH', `/repos/${repoId}`, { name });
      emit(
        o,
        renamed,
        `renamed ${ref} to ${renamed.owner}/${renamed.slug} (${renamed.cloneUrl}); the old name keeps leading here until another repo takes it`,
      );
    });
  repo
    .command('edit <repo>')
    .option('--description <text>', 'a new description')
    .addOption(new Option('--visibility <visibility>', 'public or private').choices(['public', 'private']))
    .option('--json', 'print JSON')
    .description("change a repo's description or visibility (owner or admin)")
    .action(async (ref: string, o: OutputOptions & { description?: string; visibility?: string }) => {
      if (o.description === undefined && o.visibility === undefined) {
        throw new CliError('nothing to change: give --description or --visibility', 2);
      }
      const repoId = await repoIdOf(ref);
      const edited = await callApi<RepoJson>('PATCH', `/repos/${repoId}`, {
        description: o.description,
        visibility: o.visibility,
      });
      emit(o, edited, `updated ${edited.owner}/${edited.slug} (${edited.visibility})`);
    });
  repo
    .command('restore <repo>')
    .option('--json', 'print JSON')
    .description('restore your deleted repo, by owner/slug or id (see: musehub repo list --deleted)')
    .action(async (ref: string, o: OutputOptions) => {
      const path = UUID.test(ref) ? `/repos/${encodeURIComponent(ref)}/restore` : `${repoPath(ref)}/restore`;
      const restored = await callApi<RepoJson>('POST', path);
      emit(o, restored, `restored ${restored.owner}/${restored.slug}`);
    });
  repo
    .command('purge <owner/slug>')
    .option('--yes', 'do not ask to type owner/slug to confirm (needed when not on a terminal)')
    .option('--json', 'print JSON')
    .description('delete your deleted repo permanently now: it can no longer be restored')
    .action(async (ref: string, o: OutputOptions & { yes?: boolean }) => {
      const m = /^([^/\s]+)\/([^/\s]+)$/.exec(ref);
      if (!m) throw new CliError(`'${ref}' is not owner/slug (a purge names the deleted repo by its name)`);
      if (!o.yes) await confirmByTyping(ref, 'purge');
      const path = `/user/deleted-repos/${encodeURIComponent(m[1]!)}/${encodeURIComponent(m[2]!)}/purge`;
      const result = await callApi<{ purged: { owner: string; slug: string; unreferenced: { bytes: number } }[] }>(
        'POST',
        path,
      );
      const names = result.purged.map((p) => `${p.owner}/${p.slug}`).join(', ');
      emit(o, result, `purged ${names} for good`);
    });
  repo
    .command('list')
    .option('--user <username>', "list this user's repos instead of your own")
    .option('--deleted', 'list your deleted repos (newest first) instead, with what a restore brings back')
    .option('--limit <n>', 'page size', '20')
    .option('--cursor <cursor>', 'cursor from a previous page')
    .option('--json', 'print JSON')
    .description('list your repos (owned and collaborated), or a user’s')
    .action(async (o: OutputOptions & { user?: string; limit: string; cursor?: string; deleted?: boolean }) => {
      if (o.deleted) {
        const { repos } = await callApi<{ repos: DeletedRepoJson[] }>('GET', `/user/deleted-repos?limit=${o.limit}`);
        const lines = repos.map(
          (r) =>
            `${r.owner}/${r.slug}  deleted ${r.deletedAt}${r.deletedBy ? ` by ${r.deletedBy}` : ''}  ${r.repoId}` +
            (r.nameFree ? '' : '  (name taken: restore would fail)') +
            (r.cause === 'parent_deleted' ? '  (deleted with its private parent)' : '') +
            (r.cause === 'access_lost' ? '  (you lost access to its private parent)' : ''),
        );
        emit(o, { repos }, lines.join('\n') || 'no deleted repos');
        return;
      }
      const q = new URLSearchParams({ limit: o.limit });
      if (o.cursor) q.set('cursor', o.cursor);
      const base = o.user ? `/users/${encodeURIComponent(o.user)}/repos` : '/repos';
      const page = await callApi<{ repos: RepoJson[]; nextCursor: string | null }>('GET', `${base}?${q}`);
      const lines = page.repos.map((r) => `${r.owner}/${r.slug}  ${r.visibility}`);
      if (page.nextCursor) lines.push(`(more: --cursor ${page.nextCursor})`);
      emit(o, page, lines.join('\n') || 'no repos');
    });
}

interface DeletedRepoJson {
  repoId: string;
  owner: string;
  slug: string;
  deletedAt: string;
  deletedBy: string | null;
  nameFree: boolean;
  cause: 'parent_deleted' | 'access_lost' | null;
}

/**
 * `gh repo delete`'s convention: on a terminal, type the repo's full name to go on; anywhere else
 * the caller must say --yes, since there is nobody to ask.
 */
async function confirmByTyping(fullName: string, verb: 'delete' | 'purge' = 'delete'): Promise<void> {
  if (!process.stdin.isTTY) {
    throw new CliError(`refusing to ${verb} ${fullName} without confirmation: not on a terminal; pass --yes`, 2);
  }
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const prompt =
    verb === 'delete'
      ? `Type ${fullName} to delete it (it can be restored): `
      : `Type ${fullName} to delete it permanently (it can NOT be restored): `;
  try {
    const typed = await rl.question(prompt);
    if (typed.trim() !== fullName) throw new CliError(`'${typed.trim()}' is not ${fullName}: nothing ${verb}d`, 1);
  } finally {
    rl.close();
  }
}

/** owner/slug of a repo named either way; an id may name one of your deleted repos (deleting twice succeeds). */
async function fullNameOf(ref: string): Promise<string> {
  if (!UUID.test(ref)) return ref;
  try {
    const repo = await callApi<RepoJson>('GET', repoPath(ref));
    return `${repo.owner}/${repo.slug}`;
  } catch (err) {
    const { repos } = await callApi<{ repos: DeletedRepoJson[] }>('GET', '/user/deleted-repos');
    const gone = repos.find((r) => r.repoId === ref.toLowerCase());
    if (!gone) throw err;
    return `${gone.owner}/${gone.slug}`;
  }
}

async function repoIdOf(ref: string): Promise<string> {
  return UUID.test(ref) ? ref : (await callApi<RepoJson>('GET', repoPath(ref))).repoId;
}

interface NumberedJson {
  number: number;
  title: string;
  state: string;
  author: string;
}

/** `musehub issue|proposal create|list` for quick manual use. */
export function registerHubCommands(program: Command): void {
  for (const kind of ['issue', 'proposal'] as const) {
    const plural = `${kind}s`;
    const cmd = program.command(kind).description(`${plural} on a running gateway (MUSEHUB_URL, MUSEHUB_TOKEN)`);
    const create = cmd
      .command('create <repo>')
      .requiredOption('--title <title>', 'title')
      .option('--body <text>', 'description')
      .option('--json', 'print JSON')
      .description(`open ${kind === 'issue' ? 'an issue' : 'a proposal'} on owner/slug or a repo id`);
    if (kind === 'proposal') {
      create
        .requiredOption('--from <branch>', 'branch with the changes')
        .option('--to <branch>', 'target branch (default: the default branch)');
    }
    create.action(
      async (ref: string, o: OutputOptions & { title: string; body?: string; from?: string; to?: string }) => {
        const repoId = await repoIdOf(ref);
        const body =
          kind === 'issue'
            ? { title: o.title, body: o.body }
            : { title: o.title, body: o.body, fromBranch: o.from, toBranch: o.to };
        const created = await callApi<NumberedJson>('POST', `/repos/${repoId}/${plural}`, body);
        emit(o, created, `opened ${kind} #${created.number}: ${created.title}`);
      },
    );
    cmd
      .command('list <repo>')
      .option('--state <state>', kind === 'issue' ? 'open, closed or all' : 'open, closed, merged or all', 'open')
      .option('--limit <n>', 'page size', '20')
      .option('--cursor <cursor>', 'cursor from a previous page')
      .option('--json', 'print JSON')
      .description(`list ${plural}, newest first`)
      .action(async (ref: string, o: OutputOptions & { state: string; limit: string; cursor?: string }) => {
        const repoId = await repoIdOf(ref);
        const q = new URLSearchParams({ state: o.state, limit: o.limit });
        if (o.cursor) q.set('cursor', o.cursor);
        const page = await callApi<Record<string, NumberedJson[]> & { nextCursor: string | null }>(
          'GET',
          `/repos/${repoId}/${plural}?${q}`,
        );
        const items = page[plural] as NumberedJson[];
        const lines = items.map((i) => `#${i.number}  ${i.state.padEnd(6)}  ${i.title}  (${i.author})`);
        if (page.nextCursor) lines.push(`(more: --cursor ${page.nextCursor})`);
        emit(o, page, lines.join('\n') || `no ${plural}`);
      });
  }
}
