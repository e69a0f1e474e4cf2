import { z } from 'zod';
import { BadRequestError } from '../errors.ts';
import { BIDI_CONTROL, oneLineText } from '../text.ts';

/**
 * A repo's display name as a request carries it (its slug comes from `slugFromName`). A factory:
 * zod 4 gives a schema its methods when it is built, so one built before @hono/zod-openapi has
 * loaded would have no `.openapi()`.
 */
export const repoNameSchema = () => oneLineText(100);

/** Repo display name → URL slug: "Neo Soul" → "neo-soul". */
export function slugify(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[-._]+|[-._]+$/g, '')
    .replace(/-{2,}/g, '-')
    .slice(0, 100)
    .replace(/[-._]+$/g, '');
}

export function slugFromName(name: string): string {
  if (BIDI_CONTROL.test(name)) {
    throw new BadRequestError(
      'name must not contain bidirectional control characters (such as U+202E)',
      'invalid_name',
    );
  }
  const slug = slugify(name);
  if (!slug || slug === '.' || slug === '..') {
    throw new BadRequestError('name must contain at least one letter or digit', 'invalid_name');
  }
  return slug;
}

/**
 * Why `name` cannot be a branch name, or null when it can. The rules are git's
 * (`git check-ref-format --branch`), so every name the gateway stores is one git and the
 * muse client accept too, and none can escape a path or pass for a command-line option.
 */
export function branchNameProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (Buffer.byteLength(name, 'utf8') > 255) return 'must be at most 255 bytes';
  if (name.startsWith('-')) return "must not start with '-' (it would read as an option)";
  if (name === '@') return "must not be '@' alone";
  if (name === 'HEAD') return "must not be 'HEAD'";
  if (/[\x00-\x1f\x7f]/.test(name)) return 'must not contain control characters';
  if (BIDI_CONTROL.test(name)) return 'must not contain bidirectional control characters (such as U+202E)';
  if (/[ ~^:?*[\\]/.test(name)) return 'must not contain a space or any of ~ ^ : ? * [ \\';
  if (name.includes('..')) return "must not contain '..'";
  if (name.includes('@{')) return "must not contain '@{'";
  if (name.startsWith('/') || name.endsWith('/')) return "must not start or end with '/'";
  if (name.includes('//')) return "must not contain '//'";
  if (name.endsWith('.')) return "must not end with '.'";
  for (const part of name.split('/')) {
    if (part.startsWith('.')) return "each '/'-separated part must not start with '.'";
    if (part.endsWith('.lock')) return "each '/'-separated part must not end with '.lock'";
  }
  return null;
}

/** The detail's wording for a refused branch name (null when the name is fine). */
export function branchNameIssue(name: string): string | null {
  const problem = branchNameProblem(name);
  return problem && `is not a valid branch name (it ${problem})`;
}

/** Refuses a branch name with a 400 whose detail names the field and the rule it breaks. */
export function checkBranchName(name: string, field: string): void {
  const issue = branchNameIssue(name);
  if (issue) throw new BadRequestError(`${field}: '${name.slice(0, 300)}' ${issue}`, 'invalid_branch');
}

/** The same rule as a schema, for request bodies: a refused name's detail says which rule it breaks. */
export const BranchNameSchema = z.string().superRefine((name, ctx) => {
  const issue = branchNameIssue(name);
  if (issue) ctx.addIssue({ code: 'custom', message: issue });
});
