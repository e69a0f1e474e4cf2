import { CliError } from './output.ts';

/** Talks to a running gateway: MUSEHUB_URL (default http://127.0.0.1:8080) with MUSEHUB_TOKEN when set. */
export async function callApi<T>(method: string, path: string, body?: unknown): Promise<T> {
  const base = (process.env.MUSEHUB_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
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
      `cannot reach the gateway at ${base} (${(err as Error).cause ?? (err as Error).message}); set MUSEHUB_URL`,
    );
  }
  const text = await res.text();
  const parsed = text ? safeJson(text) : undefined;
  if (!res.ok) {
    const detail = (parsed as { detail?: string } | undefined)?.detail ?? (text.slice(0, 400) || res.statusText);
    throw new CliError(`${detail} (HTTP ${res.status})`);
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
