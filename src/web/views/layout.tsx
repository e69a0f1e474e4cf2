import type { Child } from 'hono/jsx';
import type { AuthUser } from '../../users/index.ts';
import { ENHANCE_SCRIPT } from '../enhance.ts';

/** What every page needs besides its content: who is signed in, the form token, the CSP nonce. */
export interface Chrome {
  user: AuthUser | null;
  csrf: string | null;
  nonce: string;
  /** One line shown above the content (e.g. "you were signed out"). */
  notice?: string | undefined;
}

/** Why a form was refused, next to the form (announced by screen readers). */
export const FormError = ({ message }: { message?: string | undefined }) =>
  message ? (
    <p class="error" role="alert">
      {message}
    </p>
  ) : null;

/** The hidden field every state-changing form carries. */
export const Csrf = ({ token }: { token: string | null }) => <input type="hidden" name="csrf" value={token ?? ''} />;

export function Layout({ title, chrome, children }: { title: string; chrome: Chrome; children?: Child }) {
  const { user } = chrome;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>{`${title} · MuseHub`}</title>
        <link rel="stylesheet" href="/-/style.css" />
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/">
            MuseHub
          </a>
          <nav>
            {user ? (
              <>
                <a href="/new">New repo</a>
                <a href={`/${user.username}`}>{user.username}</a>
                <a href="/settings/deleted-repos">Deleted repos</a>
                <form method="post" action="/logout" class="inline">
                  <Csrf token={chrome.csrf} />
                  <button type="submit" class="link">
                    Sign out
                  </button>
                </form>
              </>
            ) : (
              <a href="/login">Sign in</a>
            )}
          </nav>
        </header>
        {chrome.notice ? (
          <p class="notice" role="status">
            {chrome.notice}
          </p>
        ) : null}
        <main>{children}</main>
        <script nonce={chrome.nonce} dangerouslySetInnerHTML={{ __html: ENHANCE_SCRIPT }} />
      </body>
    </html>
  );
}

/**
 * The one "not found" page: a deleted repo, a private one the viewer may not read, a repo or user
 * that never existed and an unknown issue all render exactly this.
 */
export const NotFoundPage = ({ chrome }: { chrome: Chrome }) => (
  <Layout title="Not found" chrome={chrome}>
    <h1>Not found</h1>
    <p>There is nothing here, or you do not have access to it.</p>
  </Layout>
);

export const MessagePage = ({ chrome, title, detail }: { chrome: Chrome; title: string; detail: string }) => (
  <Layout title={title} chrome={chrome}>
    <h1>{title}</h1>
    <p class="error">{detail}</p>
  </Layout>
);
