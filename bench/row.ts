/** One row of the bench table (bench/run.ts prints them; bench/https.ts adds its own). */
export interface Row {
  scenario: string;
  reqPerSec?: number;
  mbPerSec?: number;
  p50ms: number;
  p99ms: number;
  /** Full clones: median time to the first response byte. */
  firstByteMs?: number;
  errors: number;
  peakRssMiB: number;
  /** Largest growth of one gateway process's RSS over its RSS just before the scenario. */
  rssGrowthMiB: number;
  baseline?: string;
  ratio?: number;
  /** Full clones: the size of one response, and MB/s against bare Hono sending as many bytes. */
  responseBytes?: number;
  vsBareHttp?: number;
  /** Full clones: MB/s against nginx sending as many bytes as a static file. */
  vsNginx?: number;
  /** Incremental fetch: bare Hono's p50 for the same request and answer. */
  floorP50ms?: number;
  /** Rows run on every object store: this store's throughput over the filesystem store's. */
  vsFilesystem?: number;
}
