/** See bin/build.mjs: the compiled CLI entry for the current sources (built if need be), or null. */
export function compiledEntry(opts?: { build?: boolean }): string | null;
