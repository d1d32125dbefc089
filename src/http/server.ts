/**
 * The HTTP door (fastify) on config.listen.http: today the tracking endpoints, later the
 * SparkPost-shaped API. X-Forwarded-For is believed only from tracking.trusted_proxies, so a
 * client cannot choose the address recorded in its events. close() lets requests in flight finish.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import { MAX_TOKEN_LENGTH } from '../tracking/token.js';
import { registerTrackingRoutes, type TrackingRouteDeps } from './tracking-routes.js';

export interface HttpServer {
  address: string;
  close(): Promise<void>;
}

export interface HttpServerOptions {
  /** "host:port" or "[v6]:port". */
  listen: string;
  trustedProxies: readonly string[];
}

export function buildHttpApp(options: { trustedProxies: readonly string[] }, deps: TrackingRouteDeps) {
  const app: FastifyInstance = Fastify({
    logger: false,
    trustProxy: options.trustedProxies.length > 0 ? [...options.trustedProxies] : false,
    // Tokens are long; the default 100-character parameter limit would 404 real links.
    routerOptions: { maxParamLength: MAX_TOKEN_LENGTH },
  });
  registerTrackingRoutes(app, deps);
  return app;
}

export async function startHttpServer(
  options: HttpServerOptions,
  deps: TrackingRouteDeps & { log: Logger },
): Promise<HttpServer> {
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
