/**
 * The page's only way to the server: same-origin fetches to /console/api with the session cookie
 * (sent by the browser, never seen by this code: it is HttpOnly), JSON in and out, and the
 * session's CSRF token in X-Sluice-CSRF on every action. A 401 means the session is over: the
 * app goes back to the sign-in form. Errors carry the server's description (SparkPost's shape).
 */
import type { SessionView } from '../../../src/http/console/shapes.js';

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let csrf = '';
let onSignedOut: () => void = () => {};

export function setApiSession(session: SessionView | null, signedOut: () => void): void {
  csrf = session?.csrf ?? '';
  onSignedOut = signedOut;
}

type Method = 'GET' | 'POST' | 'DELETE';

export async function call<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-sluice-csrf'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`/console/api${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    if (response.status === 401 && path !== '/session') onSignedOut();
    throw new ApiFailure(response.status, describe(parsed, response));
  }
  return parsed as T;
}

export const get = <T>(path: string) => call<T>('GET', path);
export const post = <T>(path: string, body: unknown) => call<T>('POST', path, body);
export const del = <T>(path: string) => call<T>('DELETE', path);

function describe(parsed: unknown, response: Response): string {
  const error = (parsed as { errors?: Array<{ message?: string; description?: string }> } | null)
    ?.errors?.[0];
  if (error) return error.description ?? error.message ?? `HTTP ${response.status}`;
  return `HTTP ${response.status} ${response.statusText}`;
}

export function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params))
    if (value !== undefined && value !== '') search.set(name, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}
