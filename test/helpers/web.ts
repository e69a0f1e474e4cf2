import { expect } from 'vitest';
import type { TestGateway } from './gateway.ts';

/** A browser's view of the pages over plain HTTP: its cookies and the CSRF token its forms carry. */
export interface WebSession {
  cookie: string;
  csrf: string;
}

const cookiePairs = (res: Response) => res.headers.getSetCookie().map((c) => c.split(';')[0]!);

/** The value of `name="csrf"` in a page's first form. */
export function csrfOf(html: string): string {
  const m = /name="csrf" value="([^"]*)"/.exec(html);
  if (!m) throw new Error('no csrf field on the page');
  return m[1]!;
}

/** Per-request nonces blanked, so two renders of the same page compare byte for byte. */
export const withoutNonces = (html: string) => html.replace(/nonce="[^"]*"/g, 'nonce=""');

export async function page(gw: TestGateway, path: string, cookie?: string) {
  const res = await fetch(`${gw.url}${path}`, {
    headers: { accept: 'text/html', ...(cookie ? { cookie } : {}) },
    redirect: 'manual',
  });
  return { status: res.status, text: await res.text(), headers: res.headers, setCookies: res.headers.getSetCookie() };
}

export async function postForm(gw: TestGateway, path: string, fields: Record<string, string>, cookie?: string) {
  const res = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
  return { status: res.status, text: await res.text(), headers: res.headers, setCookies: res.headers.getSetCookie() };
}

/** Signs in through the form as a browser does: GET /login (sign-in cookie), POST the token. */
export async function signIn(gw: TestGateway, token: string): Promise<WebSession> {
  const form = await fetch(`${gw.url}/login`, { redirect: 'manual' });
  const loginCookie = cookiePairs(form).join('; ');
  const res = await postForm(gw, '/login', { csrf: csrfOf(await form.text()), token }, loginCookie);
  expect(res.status).toBe(303);
  const session = res.setCookies.map((c) => c.split(';')[0]!).find((c) => c.includes('musehub_session='));
  expect(session).toBeDefined();
  const settings = await page(gw, '/settings/deleted-repos', session);
  expect(settings.status).toBe(200);
  return { cookie: session!, csrf: csrfOf(settings.text) };
}

/**
 * Posts a form as the browser does (with the session's form token) and, when it answers 303,
 * reads the page it leads to with the flash cookie it set, as the browser's next request would.
 */
export async function submitForm(gw: TestGateway, web: WebSession, path: string, fields: Record<string, string>) {
  const res = await postForm(gw, path, { csrf: web.csrf, ...fields }, web.cookie);
  const flash = res.setCookies.map((c) => c.split(';')[0]!).find((c) => c.startsWith('musehub_flash='));
  const cookie = flash ? `${web.cookie}; ${flash}` : web.cookie;
  const location = res.headers.get('location');
  const next = res.status === 303 && location ? await page(gw, location, cookie) : null;
  return { res, flash, cookie, location, next };
}
