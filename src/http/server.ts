/**
 * The HTTP door (fastify) on config.listen.http: the tracking endpoints and, when given its
 * dependencies, the SparkPost-shaped API under /api/v1. X-Forwarded-For is believed only from
 * tracking.trusted_proxies, so a client cannot choose the address recorded in its events or
 * checked against a key's valid_ips. When given, the operations endpoints (/metrics, /healthz,
 * /readyz) too. Bodies over http.max_body get 413, malformed JSON 400, an
 * unknown route a JSON 404. close() lets requests in flight finish.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { MAX_TOKEN_LENGTH } from '../tracking/token.js';
import { ApiError, apiErrorHandler, sendError } from './api/errors.js';
import { type ApiDeps, registerApi } from './api/index.js';
import { type HealthRouteDeps, registerHealthRoutes } from './health-routes.js';
import { parseJsonText } from './parse-json.js';
import { registerTrackingRoutes, type TrackingRouteDeps } from './tracking-routes.js';

export interface HttpServer {
  address: string;
  close(): Promise<void>;
}

export interface HttpServerOptions {
  /** "host:port" or "[v6]:port". */
  listen: string;
  trustedProxies: readonly string[];
  /** Largest request body in bytes (fastify's default, 1 MiB, when absent). */
  maxBody?: number;
}

export type HttpDeps = TrackingRouteDeps & { api?: ApiDeps; health?: HealthRouteDeps | undefined };

export function buildHttpApp(options: Omit<HttpServerOptions, 'listen'>, deps: HttpDeps) {
  const app: FastifyInstance = Fastify({
    logger: false,
    trustProxy: options.trustedProxies.length > 0 ? [...options.trustedProxies] : false,
    // Tokens are long; the default 100-character parameter limit would 404 real links.
    routerOptions: { maxParamLength: MAX_TOKEN_LENGTH },
    ...(options.maxBody ? { bodyLimit: options.maxBody } : {}),
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    // An empty body (some clients send one with DELETE) is no body, not malformed JSON.
    if (body === '' || body.length === 0) return done(null, undefined);
    try {
      done(null, parseJsonText(body as string));
    } catch (error) {
      done(
        Object.assign(new Error(`malformed JSON: ${(error as Error).message}`), { statusCode: 400 }),
        undefined,
      );
    }
  });
  app.setErrorHandler(apiErrorHandler(deps.log));
  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      new ApiError(404, {
        message: 'resource not found',
        code: '1600',
        description: `no route for ${request.method} ${request.url.split('?')[0]}`,
      }),
    ),
  );
  registerTrackingRoutes(app, deps);
  if (deps.api) registerApi(app, deps.api);
  if (deps.health) registerHealthRoutes(app, deps.health);
  return app;
}

export async function startHttpServer(options: HttpServerOptions, deps: HttpDeps): Promise<HttpServer> {
  const app = buildHttpApp(options, deps);
  const at = options.listen.lastIndexOf(':');
  const host = options.listen.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(options.listen.slice(at + 1));
  await app.listen({ host, port });
  const bound = app.server.address();
  const address =
    bound && typeof bound === 'object'
      ? `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`
      : options.listen;
  return { address, close: () => app.close() };
}
