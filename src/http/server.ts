/**
 * The HTTP door (fastify) on config.listen.http: the tracking endpoints and, when given its
 * dependencies, the SparkPost-shaped API under /api/v1. X-Forwarded-For is believed only from
 * tracking.trusted_proxies, so a client cannot choose the address recorded in its events or
 * checked against a key's valid_ips. When given, the operations endpoints (/metrics, /healthz,
 * /readyz) and the operator console (/console) too. close() lets requests in flight finish.
 *
 * Bodies: an API route checks the key before a byte of the body is read (route.ts) and reads
 * at most http.max_body; every other route (no key, so no body needed) at most UNKEYED_BODY_LIMIT.
 * Over the limit is 413, malformed JSON 400, only application/json is parsed (415 otherwise), an
 * unknown route a JSON 404. A client sending `Expect: 100-continue` is told to go on only once
 * its request passed those checks. The listener's timeouts, connection caps, and what happens to
 * the rest of a body after an early answer are in listener-limits.ts.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { defaultHttpConfig, type HttpConfig } from '../config/sections/http.js';
import { NetworkSet } from '../core/networks.js';
import { MAX_TOKEN_LENGTH } from '../tracking/token.js';
import { ApiError, apiErrorHandler, sendError } from './api/errors.js';
import { type ApiDeps, registerApi } from './api/index.js';
import { type ConsoleDeps, registerConsole } from './console/index.js';
import { type HealthRouteDeps, registerHealthRoutes } from './health-routes.js';
import { parseJsonBody } from './json-body.js';
import {
  clientErrorHandler,
  createLimitedServer,
  dropLingering,
  type ListenerLimits,
  ThrottledLog,
} from './listener-limits.js';
import { registerTrackingRoutes, type TrackingRouteDeps } from './tracking-routes.js';

/** Body limit of routes that take no key (none of them needs a body). */
export const UNKEYED_BODY_LIMIT = 16 * 1024;

export interface HttpServer {
  address: string;
  close(): Promise<void>;
}

export interface HttpServerOptions {
  /** "host:port" or "[v6]:port". */
  listen: string;
  trustedProxies: readonly string[];
  /** The listener's timeouts and caps; the config defaults when absent. */
  limits?: HttpConfig;
}

export type HttpDeps = TrackingRouteDeps & {
  api?: ApiDeps;
  health?: HealthRouteDeps | undefined;
  /** The operator console under /console (console/index.ts). */
  console?: ConsoleDeps | undefined;
};

/** The config's http section as the listener's limits; trusted proxies never count as one client. */
export function listenerLimits(http: HttpConfig, trustedProxies: readonly string[]): ListenerLimits {
  return {
    headersTimeoutMs: http.headers_timeout,
    requestTimeoutMs: http.request_timeout,
    bodyTimeoutMs: http.body_timeout,
    keepAliveTimeoutMs: http.keep_alive_timeout,
    maxConnections: http.max_connections,
    maxConnectionsPerClient: http.max_connections_per_client,
    exempt: new NetworkSet([...http.connection_limit_exceptions, ...trustedProxies]),
  };
}

export function buildHttpApp(options: Omit<HttpServerOptions, 'listen'>, deps: HttpDeps) {
  const notes = new ThrottledLog(deps.log);
  const limits = listenerLimits(options.limits ?? defaultHttpConfig(), options.trustedProxies);
  const app: FastifyInstance = Fastify({
    logger: false,
    trustProxy: options.trustedProxies.length > 0 ? [...options.trustedProxies] : false,
    // Tokens are long; the default 100-character parameter limit would 404 real links.
    routerOptions: { maxParamLength: MAX_TOKEN_LENGTH },
    bodyLimit: UNKEYED_BODY_LIMIT,
    serverFactory: (handler) => createLimitedServer(handler, limits, notes),
    clientErrorHandler: clientErrorHandler(notes),
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', parseJsonBody);
  app.addHook('preParsing', async (request, reply, payload) => {
    // Reached only once onRequest let the request through (for the API: a valid key). A client
    // that waits for "100 Continue" gets it now, and not at all when refused (listener-limits).
    const declared = Number(request.headers['content-length']);
    if (declared > (request.routeOptions.bodyLimit ?? UNKEYED_BODY_LIMIT))
      throw Object.assign(new Error('request body too large'), { statusCode: 413 });
    if (request.headers.expect?.toLowerCase() === '100-continue') reply.raw.writeContinue();
    return payload;
  });
  app.addHook('preClose', async () => dropLingering(app.server));
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
  if (deps.console) registerConsole(app, deps.console);
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
