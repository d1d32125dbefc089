/**
 * Signing in and out of the console. POST /console/api/session takes `{"key": "..."}` (from this
 * page's origin only), answers the session (with its CSRF token) and sets the session cookie;
 * a failure is delayed per client address as failed SMTP AUTHs are, and logged with the reason,
 * never with the key. GET answers the current session (the page asks on load), DELETE signs out.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AuthThrottle } from '../../core/auth-throttle.js';
import type { ConsoleSession, ConsoleSessions } from '../../core/console-sessions.js';
import type { Logger } from '../../log.js';
import { ApiError, fromZod } from '../api/errors.js';
import { checkOrigin, consoleRoute, keyStoreAway, refused } from './route.js';
import { sessionCookieOf, setSessionCookie } from './security.js';
import type { SessionView } from './shapes.js';

export interface SessionDeps {
  sessions: ConsoleSessions;
  throttle: AuthThrottle;
  log: Logger;
  /** Whether the metrics-based views are served (phase 2 of the console). */
  metrics: boolean;
}

const signInBody = z.strictObject({ key: z.string().min(1).max(200) });

export function sessionView(session: ConsoleSession, metrics: boolean): SessionView {
  return {
    key_id: session.keyId,
    label: session.label,
    access: session.access,
    csrf: session.csrf,
    expires: new Date(session.expires).toISOString(),
    metrics,
  };
}

/** The sign-in route: the only console action without a session, so it is registered on its own. */
export function registerSignIn(scope: FastifyInstance, deps: SessionDeps): void {
  scope.post('/api/session', { bodyLimit: 4096 }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    checkOrigin(request);
    const parsed = signInBody.safeParse(request.body);
    if (!parsed.success) throw fromZod(parsed.error, 'body');
    const outcome = await deps.sessions.signIn(parsed.data.key.trim(), request.ip).catch(keyStoreAway);
    if (!outcome.ok) {
      const wait = deps.throttle.failed(request.ip);
      deps.log.warn({ client_ip: request.ip, reason: outcome.reason }, 'console: sign-in refused');
      await new Promise((resolve) => setTimeout(resolve, wait));
      if (outcome.reason === 'no-console-grant')
        throw refused('this key holds neither console/view nor console/manage');
      if (outcome.reason === 'ip') throw refused('this key is not valid from your address');
      throw new ApiError(401, { message: 'Unauthorized.', description: 'not a valid API key' });
    }
    deps.throttle.succeeded(request.ip);
    const { session } = outcome;
    deps.log.info(
      { key_id: session.keyId, access: session.access, client_ip: request.ip },
      'console: signed in',
    );
    setSessionCookie(request, reply, session.id, (session.expires - session.created) / 1000);
    return sessionView(session, deps.metrics);
  });
}

export function sessionRoutes(deps: SessionDeps) {
  return [
    consoleRoute({
      method: 'GET',
      url: '/session',
      access: 'view',
      handler: async ({ session }) => sessionView(session, deps.metrics),
    }),
    consoleRoute({
      method: 'DELETE',
      url: '/session',
      access: 'view',
      handler: async ({ session, request, reply }) => {
        const id = sessionCookieOf(request);
        if (id) deps.sessions.end(id);
        setSessionCookie(request, reply, '', 0);
        deps.log.info({ key_id: session.keyId }, 'console: signed out');
        return undefined;
      },
    }),
  ];
}
