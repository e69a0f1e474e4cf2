import type { EntityManager } from '@mikro-orm/postgresql';
import { loadConfig } from '../config.ts';
import { createSignInLink, SIGN_IN_LINK_TTL_MS } from './session.service.ts';

/** The CLI's one-time sign-in link for a token, on the gateway's public URL. */
export async function signInLink(em: EntityManager, tokenId: string): Promise<{ url: string; expiresAt: string }> {
  const config = loadConfig();
  const base = config.publicUrl ?? `http://localhost:${config.port}`;
  const code = await createSignInLink(em, tokenId);
  return { url: `${base}/login/link/${code}`, expiresAt: new Date(Date.now() + SIGN_IN_LINK_TTL_MS).toISOString() };
}
