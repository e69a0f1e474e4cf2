import { z } from 'zod';
import { BadRequestError } from './errors.ts';

/**
 * The NUL character (U+0000) in a text field: PostgreSQL cannot store it in `text`, so it is a
 * 400 naming the field at the edge — REST and MCP JSON, page forms, the wire's msgpack — rather
 * than a failed INSERT (a 500, with the user's text in the logged SQL). One rule for every surface.
 */
export function rejectNul(value: unknown): void {
  const field = nulField(value, '');
  if (field !== null) {
    throw new BadRequestError(
      `${field || 'body'}: text must not contain the NUL character (U+0000)`,
      'invalid_request',
    );
  }
}

/**
 * The path (`commits[0].message`) of the first string — key or value — holding U+0000, else
 * null. Iterative: a body of 100,000 nested arrays must not overflow the stack.
 */
function nulField(root: unknown, rootPath: string): string | null {
  const stack: [unknown, string][] = [[root, rootPath]];
  while (stack.length) {
    const [value, at] = stack.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\0')) return at;
      continue;
    }
    if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) continue;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], `${at}[${i}]`]);
      continue;
    }
    const entries = Object.entries(value);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, v] = entries[i]!;
      const path = at ? `${at}.${key}` : key;
      if (key.includes('\0')) return path;
      stack.push([v, path]);
    }
  }
  return null;
}

/** JSON text can only carry U+0000 as the escape `\u0000`: a cheap test before walking the parsed value. */
export const jsonMayHoldNul = (text: string) => text.includes('\\u0000');

/**
 * Bidirectional controls (U+202E RIGHT-TO-LEFT OVERRIDE and its kin) make a name display as
 * something it is not (`song\u202Eevil.mid` shows as `songdim.live`): refused in names — repo,
 * branch and file — and allowed in free text, where they have honest uses.
 */
export const BIDI_CONTROL = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/**
 * C0 controls (U+0000–U+001F: tab, newline, escape …) and DEL. A title, a name, a label or a
 * commit's author is one line shown in lists, page titles and terminals, where a newline forges a
 * second line and an escape sequence repaints the screen; free text (bodies, descriptions, commit
 * messages) keeps tab and newline and refuses only NUL (`rejectNul`).
 */
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
export const CONTROL_CHARACTER_PROBLEM = 'must not contain control characters (U+0000–U+001F, U+007F)';

/** One line of text, trimmed, 1..max characters, no control characters: titles, names and labels. */
export const oneLineText = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max)
    .refine((v) => !CONTROL_CHARACTER.test(v), CONTROL_CHARACTER_PROBLEM);
