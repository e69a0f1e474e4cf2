import { BadRequestError } from '../errors.ts';

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
  const slug = slugify(name);
  if (!slug || slug === '.' || slug === '..') {
    throw new BadRequestError('name must contain at least one letter or digit', 'invalid_name');
  }
  return slug;
}

/**
 * Branch names follow git's check-ref-format rules closely enough that no name can
 * escape a path or confuse a ref parser: no "..", no leading or trailing "/", no "//",
 * no control characters, spaces or ~^:?*[\ and no ".lock" suffix.
 */
export function isValidBranchName(name: string): boolean {
  return (
    name.length > 0 &&
    name.length <= 255 &&
    !/[\x00-\x20\x7f~^:?*[\\]/.test(name) &&
    !name.includes('..') &&
    !name.includes('//') &&
    !name.includes('@{') &&
    !name.startsWith('/') &&
    !name.endsWith('/') &&
    !name.endsWith('.') &&
    !name.endsWith('.lock') &&
    !name.split('/').some((part) => part.startsWith('.'))
  );
}
