import { ChunkWriter } from './fetch-writer.ts';

export interface RefsMessage {
  repoId: string;
  defaultBranch: string;
  /** Branch name → head commit id, in the order they are written. */
  heads: Readonly<Record<string, string>>;
}

/**
 * The refs answer (`GET /{owner}/{slug}/refs`) as msgpack: a pure codec, data in, bytes out.
 * Minimal headers (fixmap, fixstr, str8 …), as the reference hub's encoder writes them, so the
 * bytes equal a recorded answer byte for byte. The hub does not track a per-repo domain yet;
 * muse's default is "code".
 */
export function writeRefs(refs: RefsMessage): Uint8Array<ArrayBuffer> {
  const w = new ChunkWriter(1024);
  w.mapHeader(4);
  w.str('repo_id');
  w.str(refs.repoId);
  w.str('domain');
  w.str('code');
  w.str('default_branch');
  w.str(refs.defaultBranch);
  w.str('branch_heads');
  const heads = Object.entries(refs.heads);
  w.mapHeader(heads.length);
  for (const [name, head] of heads) {
    w.str(name);
    w.str(head);
  }
  return new Uint8Array(Buffer.concat(w.drain(true)));
}
