import fs from 'node:fs';
import { expect, test } from 'vitest';

// `npm test`, `npm start`, `npm run bench` and .ci/run all run on the Node that package.json pins
// (the `node` npm package), whatever the system's Node is: npm puts node_modules/.bin first on PATH.
test('the suite runs on the pinned Node', () => {
  const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
  expect(process.version).toBe(`v${pkg.dependencies.node}`);
});
