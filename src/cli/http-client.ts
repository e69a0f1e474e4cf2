import { CliError } from './output.ts';

/**
 * The gateway the CLI talks to: MUSEHUB_URL, else the gateway's own MUSEHUB_PUBLIC_URL, else
 * http on its HOST and PORT (a wildcard HOST means this machine) — so on the machine that runs
 * the gateway, the CLI finds it with the same settings.
 */
export function gatewayUrl(env: NodeJS.ProcessEnv = process.env): { url: string; from: string } {
  if (env.MUSEHUB_URL) return { url: env.MUSEHUB_URL.replace(/\/+$/, ''), from: 'MUSEHUB_URL' };
  if (env.MUSEHUB_PUBLIC_URL) return { url: env.MUSEHUB_PUBLIC_URL.replace(/\/+$/, ''), from: 'MUSEHUB_PUBLIC_URL' };
  const host = !env.HOST || env.HOST === '0.0.0.0' ? '127.0.0.1' : env.HOST === '::' ? '::1' : env.HOST;
  const port = env.PORT || '8080';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    from: env.PORT ? 'HOST/PORT' : 'the default',
  };
}

/** Talks to a running gateway (gatewayUrl) with MUSEHUB_TOKEN when set. */
export async function callApi<T>(method: string, path: string, body?: unknown): Promise<T> {
  const { url: base, from } = gatewayUrl();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (process.env.MUSEHUB_TOKEN) headers.authorization = `Bearer ${process.env.MUSEHUB_TOKEN}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new CliError(
      `cannot reach the gateway at ${base}, from ${from} (${(err as Error).cause ?? (err as Error).message}); set MUSEHUB_URL to its address`,
    );
  }
  const text = await res.text();
  const parsed = text ? safeJson(text) : undefined;
  if (!res.ok) {
    const error = parsed as { detail?: string; code?: string } | undefined;
    const detail = error?.detail ?? (text.slice(0, 400) || res.statusText);
    const hint =
      res.status !== 401
        ? ''
        : process.env.MUSEHUB_TOKEN
          ? '; MUSEHUB_TOKEN is set but the gateway refused it (revoked, or from another hub?)'
          : '; set MUSEHUB_TOKEN to an API token (an operator creates one with: musehub token create <username>)';
    throw new CliError(`${detail}${hint} (HTTP ${res.status})`, 1, { status: res.status, code: error?.code });
  }
  return parsed as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
