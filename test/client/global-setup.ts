import type { TestProject } from 'vitest/node';
import { setUpMuseClient } from './muse.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The wrapper that runs the real muse client (test/client/muse.ts). */
    museWrapper: string;
  }
}

/** Builds (or finds) the real muse client once for the whole suite; failing here fails the suite. */
export default async function setup(project: TestProject) {
  const started = Date.now();
  const wrapper = await setUpMuseClient();
  console.log(`muse client: ${wrapper} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  project.provide('museWrapper', wrapper);
}
