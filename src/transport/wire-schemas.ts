import { z } from 'zod';
import { BadRequestError } from '../errors.ts';
import { BranchNameSchema, branchNameIssue } from '../repos/index.ts';
import { isObjectId } from '../storage/object-store.ts';
import { BIDI_CONTROL, CONTROL_CHARACTER, CONTROL_CHARACTER_PROBLEM } from '../text.ts';

/** Request-size caps per body; each breach is a 400/413 with a detail, before any write. */
export const LIMITS = {
  filterIds: 50_000,
  objectsPerChunk: 1_000,
  commitsPerPush: 10_000,
  snapshotsPerPush: 10_000,
  manifestEntries: 100_000,
  want: 1_000,
  have: 200_000,
  negotiateHave: 1_000,
  presignIds: 10_000,
} as const;

const HEX64_PROBLEM = 'must be 64 lowercase hex characters (a SHA-256)';
const hex64 = z.string().refine(isObjectId, HEX64_PROBLEM);

/**
 * A list of ids, checked in one loop: a fetch's `have` holds up to 200,000 of them, and zod's
 * per-element schema cost 1.7 ms for 9,999 (this loop: a tenth of that). The same problems, at
 * the same paths, as `z.array(hex64).min(min).max(max)`.
 */
const hex64List = (max: number, min = 0, minMessage = `must name at least ${min}`) =>
  z.custom<string[]>().superRefine((value, ctx) => {
    if (!Array.isArray(value)) {
      ctx.addIssue({ code: 'invalid_type', expected: 'array', input: value, message: 'expected an array' });
      return;
    }
    if (value.length > max) {
      ctx.addIssue({
        code: 'too_big',
        origin: 'array',
        maximum: max,
        inclusive: true,
        input: value,
        message: `too many ids: at most ${max}`,
      });
      return;
    }
    if (value.length < min) {
      ctx.addIssue({
        code: 'too_small',
        origin: 'array',
        minimum: min,
        inclusive: true,
        input: value,
        message: minMessage,
      });
      return;
    }
    for (let i = 0; i < value.length; i++) {
      if (!isObjectId(value[i])) {
        ctx.addIssue({ code: 'custom', path: [i], input: value[i], message: HEX64_PROBLEM });
        return;
      }
    }
  });
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'must be binary (msgpack bin, or base64 in JSON)');

/** Manifest paths are relative, slash-separated and never climb out of the work tree. */
export function isSafeRelativePath(p: string): boolean {
  return (
    p.length > 0 &&
    p.length <= 4096 &&
    !p.startsWith('/') &&
    !/[\x00-\x1f\x7f\\]/.test(p) &&
    !/^[A-Za-z]:/.test(p) &&
    p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..')
  );
}

const isoDate = z
  .string()
  .max(64)
  .refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 date');

const ObjectEntry = z.looseObject({
  object_id: hex64,
  // JSON clients send base64; the muse client sends bin.
  content: z.union([
    bytes,
    z
      .string()
      .base64()
      .transform((s) => Buffer.from(s, 'base64')),
  ]),
});

export const FilterObjectsRequest = z.object({ object_ids: hex64List(LIMITS.filterIds) });

export const PushObjectsRequest = z.object({ objects: z.array(ObjectEntry).max(LIMITS.objectsPerChunk) });

const nullableId = hex64.nullable().optional();

export const WireCommit = z.looseObject({
  commit_id: hex64,
  snapshot_id: hex64,
  parent_commit_id: nullableId,
  parent2_commit_id: nullableId,
  branch: z.string().max(255).nullable().optional(),
  author: z
    .string()
    .max(1024)
    .refine((v) => !CONTROL_CHARACTER.test(v), CONTROL_CHARACTER_PROBLEM)
    .nullable()
    .optional(),
  message: z.string().max(1_000_000).nullable().optional(),
  committed_at: isoDate.nullable().optional(),
});

export const WireSnapshot = z.looseObject({
  snapshot_id: hex64,
  manifest: z
    .record(z.string(), hex64)
    .refine((m) => Object.keys(m).length <= LIMITS.manifestEntries, `at most ${LIMITS.manifestEntries} files`)
    // Keys are checked here rather than by a key schema, whose refusal zod reports only as
    // "Invalid key in record": the detail says which path and why.
    .superRefine((m, ctx) => {
      for (const p of Object.keys(m)) {
        const why = !isSafeRelativePath(p)
          ? 'manifest paths must be relative and stay inside the repo'
          : BIDI_CONTROL.test(p)
            ? 'manifest paths must not contain bidirectional control characters (such as U+202E)'
            : null;
        if (why) {
          ctx.addIssue({ code: 'custom', path: [p], message: why });
          return;
        }
      }
    }),
  created_at: isoDate.nullable().optional(),
});

export const PushRequest = z.object({
  bundle: z.looseObject({
    commits: z.array(WireCommit).max(LIMITS.commitsPerPush),
    snapshots: z.array(WireSnapshot).max(LIMITS.snapshotsPerPush).default([]),
    objects: z.array(ObjectEntry).max(LIMITS.objectsPerChunk).default([]),
    branch_heads: z
      .record(z.string(), hex64)
      .superRefine((heads, ctx) => {
        for (const name of Object.keys(heads)) {
          const issue = branchNameIssue(name);
          if (issue) ctx.addIssue({ code: 'custom', path: [name], message: issue });
        }
      })
      .nullable()
      .optional(),
  }),
  branch: BranchNameSchema,
  force: z.boolean().default(false),
});

export const FetchRequest = z.object({
  want: hex64List(LIMITS.want, 1, 'must name at least one commit'),
  have: hex64List(LIMITS.have).default([]),
});

export const NegotiateRequest = z.object({
  want: hex64List(LIMITS.want),
  have: hex64List(LIMITS.negotiateHave).default([]),
});

export const PresignRequest = z.object({
  object_ids: hex64List(LIMITS.presignIds),
  direction: z.enum(['put', 'get']),
  ttl_seconds: z.number().int().min(1).max(3600).optional(),
});

/**
 * A push body, validated, with its commit and snapshot records also as the client sent them:
 * those are what is stored and served back, byte for byte, so keys this hub does not know survive.
 */
export function parsePushRequest(value: unknown) {
  const request = parseWire(PushRequest, value);
  // Validated just above: bundle.commits (and snapshots, when present) are arrays of objects.
  const bundle = (value as { bundle: { commits: Record<string, unknown>[]; snapshots?: Record<string, unknown>[] } })
    .bundle;
  return { request, rawCommits: bundle.commits, rawSnapshots: bundle.snapshots ?? [] };
}

/** Validates a decoded body; the first problem becomes the 400 detail ("bundle.commits.0.commit_id: …"). */
export function parseWire<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    const tooBig = issue.code === 'too_big';
    throw new BadRequestError(`${where}${issue.message}`, tooBig ? 'too_many_items' : 'invalid_request');
  }
  return result.data;
}
