/**
 * The operator console's browser-facing protections, in one place:
 *  - headers on every /console answer: a strict Content-Security-Policy (only this origin's
 *    scripts, styles, images and connections; no inline script or style, no eval, no framing),
 *    nosniff, no referrer, same-origin isolation;
 *  - the session cookie: HttpOnly, SameSite=Strict, Path=/console, Secure when the request came
 *    over TLS (directly or per X-Forwarded-Proto from tracking.trusted_proxies), Max-Age = the
 *    session's remaining life;
 *  - the origin check for every state-changing request (sign-in included): the Origin header
 *    must name this very host, and a Sec-Fetch-Site, when the browser sends one, must say
 *    same-origin. With SameSite=Strict and the per-session CSRF token (route.ts) a page on
 *    another origin can neither ride the session nor sign a victim in under its own key.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export const SESSION_COOKIE = 'sluice_console';
export const CSRF_HEADER = 'x-sluice-csrf';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export function sessionCookieOf(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/** Sets the session cookie for `seconds` (0 clears it). */
export function setSessionCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  value: string,
  seconds: number,
): void {
  const parts = [
    `${SESSION_COOKIE}=${value}`,
    'Path=/console',
    `Max-Age=${Math.max(0, Math.floor(seconds))}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (request.protocol === 'https') parts.push('Secure');
  reply.header('set-cookie', parts.join('; '));
}

/** Why a state-changing request does not come from the console's own page; null: it does. */
export function crossOriginReason(request: FastifyRequest): string | null {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return `Sec-Fetch-Site is ${String(site)}`;
  const origin = request.headers.origin;
  if (!origin) return 'no Origin header';
  let host: string;
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'Origin is not http(s)';
    host = url.host;
  } catch {
    return 'Origin is not a URL';
  }
  // request.host follows X-Forwarded-Host only from trusted proxies (fastify's trustProxy).
  if (host.toLowerCase() !== request.host.toLowerCase()) return `Origin ${origin} is not this host`;
  return null;
}
