import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';

/**
 * Rules of the code's shape, checked on every run: no import cycle between files under src/
 * (type-only imports included: a cycle of types is still two files that cannot be read apart),
 * and the protocol core (src/transport) never imports the hub (src/hub) — it reports pushes
 * through a port the app wires.
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

test('src/transport imports nothing from src/hub', () => {
  const offending = files
    .filter((f) => rel(f).startsWith('transport/'))
    .flatMap((f) => (graph.get(f) ?? []).filter((i) => rel(i).startsWith('hub/')).map((i) => `${rel(f)} -> ${rel(i)}`));
  expect(offending).toEqual([]);
});
