/**
 * A thin HTTP client for Sluice's /api/v1 over real HTTP (node's fetch): sends JSON with the key
 * in Authorization as SparkPost clients do, and returns status, headers and the parsed body
 * without throwing on error statuses, so tests assert on what the server answered.
 */
// biome-ignore lint/suspicious/noExplicitAny: answers are arbitrary JSON that tests inspect field by field
export type Json = any;

export interface ApiAnswer<T = Json> {
  status: number;
  headers: Headers;
  body: T;
}

export type ApiCall = <T = Json>(
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<ApiAnswer<T>>;

export function apiClient(port: number, key: string | null): ApiCall {
  return async (method, path, body, headers = {}) => {
    const init: RequestInit = {
      method,
      headers: {
        ...(key ? { authorization: key } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
    };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const response = await fetch(`http://127.0.0.1:${port}${path}`, init);
    const text = await response.text();
    let parsed: Json = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: the test sees the text
    }
    return { status: response.status, headers: response.headers, body: parsed };
  };
}
