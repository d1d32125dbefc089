/**
 * One declaration per console JSON endpoint: method, path, the console access it needs, and the
 * zod schemas of its input. Registering it puts every check in front of the handler, in order:
 * a live session (401), its access (403: a read-only key cannot act), and for anything but GET
 * the origin check and the session's CSRF token in X-Sluice-CSRF (403), then validation (422
 * naming the field). Answers are never cached. The handler gets the session and parsed input.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { type ConsoleAccess, type ConsoleSession, ConsoleSessions } from '../../core/console-sessions.js';
import { ApiError, fromZod } from '../api/errors.js';
import { CSRF_HEADER, crossOriginReason, sessionCookieOf } from './security.js';

export type Method = 'GET' | 'POST' | 'DELETE';

export interface ConsoleContext<B, Q, P> {
  session: ConsoleSession;
  body: B;
  query: Q;
  params: P;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface ConsoleRoute<
  B extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  P extends z.ZodType = z.ZodType,
> {
  method: Method;
  /** Under /console/api. */
  url: string;
  access: ConsoleAccess;
  body?: B;
  query?: Q;
  params?: P;
  handler(context: ConsoleContext<z.output<B>, z.output<Q>, z.output<P>>): Promise<unknown>;
}

export function consoleRoute<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType>(
  spec: ConsoleRoute<B, Q, P>,
): ConsoleRoute {
  return spec as unknown as ConsoleRoute;
}

export const signInRequired = () =>
  new ApiError(401, { message: 'Unauthorized.', description: 'sign in to the console with an API key' });

export const refused = (description: string) => new ApiError(403, { message: 'Forbidden.', description });

/**
 * The key behind a session (or a sign-in) cannot be read: the store is away (Redis down). The
 * console fails closed, with a 503 that says why rather than a 500.
 */
export function keyStoreAway(error: unknown): never {
  throw new ApiError(503, {
    message: 'key store unavailable',
    description: `cannot check the API key now: ${(error as Error).message}`,
  });
}

/** Refuses a state-changing request that does not come from the console's own page. */
export function checkOrigin(request: FastifyRequest): void {
  const reason = crossOriginReason(request);
  if (reason) throw refused(`cross-origin request refused: ${reason}`);
}

export function registerConsoleRoutes(
  scope: FastifyInstance,
  routes: readonly ConsoleRoute[],
  sessions: ConsoleSessions,
): void {
  for (const spec of routes) {
    scope.route({
      method: spec.method,
      url: `/api${spec.url}`,
      bodyLimit: 64 * 1024,
      handler: async (request, reply) => {
        reply.header('cache-control', 'no-store');
        const session = await sessions.resolve(sessionCookieOf(request), request.ip).catch(keyStoreAway);
        if (!session) throw signInRequired();
        if (spec.access === 'manage' && session.access !== 'manage')
          throw refused('this key holds console/view only; acting needs console/manage');
        if (spec.method !== 'GET') {
          checkOrigin(request);
          const token = request.headers[CSRF_HEADER];
          if (!ConsoleSessions.csrfMatches(session, typeof token === 'string' ? token : undefined))
            throw refused(`missing or wrong ${CSRF_HEADER} token`);
        }
        const body = parse(spec.body, request.body, 'body');
        const query = parse(spec.query, request.query, 'query');
        const params = parse(spec.params, request.params, 'params');
        const result = await spec.handler({ session, body, query, params, request, reply });
        if (reply.sent) return reply;
        if (result === undefined) return reply.code(204).send();
        return reply.send(result);
      },
    });
  }
}

function parse(schema: z.ZodType | undefined, value: unknown, where: 'body' | 'query' | 'params'): unknown {
  if (!schema) return value;
  const result = schema.safeParse(value);
  if (!result.success) throw fromZod(result.error, where);
  return result.data;
}
