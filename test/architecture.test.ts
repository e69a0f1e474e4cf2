import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';

/**
 * Rules of the code's shape, checked on every run: no import cycle between files under src/
 * (type-only imports included: a cycle of types is still two files that cannot be read apart),
 * and layers that point one way — the table below. docs/architecture.md draws the layers.
 */
const src = path.resolve(import.meta.dirname, '../src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') || p.endsWith('.tsx') ? [p] : [];
  });
}

/** Relative imports and re-exports of a file, resolved to files. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/gms)].map((m) => m[1]!);
  return specs.map((s) => path.resolve(path.dirname(file), s));
}

const files = sourceFiles(src);
const graph = new Map(files.map((f) => [f, importsOf(f).filter((i) => files.includes(i))]));
const rel = (f: string) => path.relative(src, f);

test('the import graph of src/ is read from every file', () => {
  expect(files.length).toBeGreaterThan(50);
  // A file the pattern misses would hide its cycles: every relative import resolves to a file.
  const unresolved = files.flatMap((f) =>
    importsOf(f)
      .filter((i) => i.startsWith(src) && !files.includes(i))
      .map((i) => `${rel(f)} -> ${rel(i)}`),
  );
  expect(unresolved).toEqual([]);
});

test('no import cycle between files', () => {
  const cycles: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'visiting');
    stack.push(f);
    for (const next of graph.get(f) ?? []) {
      if (state.get(next) === 'visiting')
        cycles.push([...stack.slice(stack.indexOf(next)), next].map(rel).join(' -> '));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  expect(cycles).toEqual([]);
});

/**
 * The surface a file belongs to: the wire protocol, REST (every *.routes.ts outside the other
 * surfaces), MCP, the pages or the CLI; null for services and everything below them.
 */
function surfaceOf(r: string): string | null {
  if (r === 'transport/routes.ts') return 'wire';
  const top = /^(mcp|web|cli)\//.exec(r)?.[1];
  if (top) return top;
  return /\.routes\.tsx?$/.test(r) ? 'rest' : null;
}

/** Composition roots: they wire every layer together and may import anything. */
const ROOTS = new Set(['app.ts', 'server.ts', 'cluster.ts', 'cluster-worker.ts', 'main.ts', 'database.ts', 'docs.ts']);

const FEATURES = /^(users|history|repos|hub|integrity|transport|mcp|web|cli)\//;

/** [rule, does importing `to` from `from` break it]: each a direction the layers must not run. */
const FORBIDDEN: [string, (from: string, to: string) => boolean][] = [
  [
    'transport never imports the hub (it reports pushes through a port the app wires)',
    (f, t) => f.startsWith('transport/') && t.startsWith('hub/'),
  ],
  [
    "a surface never imports another surface's routes (shared inputs and presenters live in *.schema.ts, *.json.ts)",
    (f, t) => surfaceOf(t) !== null && surfaceOf(f) !== surfaceOf(t) && !ROOTS.has(f) && !f.startsWith('cli/'),
  ],
  ['services never import a surface', (f, t) => surfaceOf(f) === null && !ROOTS.has(f) && surfaceOf(t) !== null],
  [
    'history (the SQL store) sits under repos and the wire',
    (f, t) => f.startsWith('history/') && /^(repos|hub|transport|mcp|web|cli|middleware)\//.test(t),
  ],
  [
    'middleware never imports the pages, MCP or the CLI',
    (f, t) => f.startsWith('middleware/') && /^(web|mcp|cli)\//.test(t),
  ],
  [
    'settings, the database layer, storage and the network know no feature',
    (f, t) => (f === 'config.ts' || /^(db|storage|net|migrations)\//.test(f)) && (FEATURES.test(t) || ROOTS.has(t)),
  ],
];

test.each(FORBIDDEN.map(([rule, breaks]) => ({ rule, breaks })))('$rule', ({ breaks }) => {
  const offending = files.flatMap((f) =>
    (graph.get(f) ?? []).filter((i) => breaks(rel(f), rel(i))).map((i) => `${rel(f)} -> ${rel(i)}`),
  );
  expect(offending).toEqual([]);
});
