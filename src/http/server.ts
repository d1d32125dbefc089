/**
 * The HTTP door (fastify) on config.listen.http: today the tracking endpoints and, when given, the
 * operations endpoints (/metrics, /healthz, /readyz); later the
 * SparkPost-shaped API. X-Forwarded-For is believed only from tracking.trusted_proxies, so a
 * client cannot choose the address recorded in its events. close() lets requests in flight finish.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import { type HealthRouteDeps, registerHealthRoutes } from './health-routes.js';
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

export function buildHttpApp(
  options: { trustedProxies: readonly string[] },
  deps: TrackingRouteDeps & { health?: HealthRouteDeps | undefined },
) {
  const app: FastifyInstance = Fastify({
    logger: false,
    trustProxy: options.trustedProxies.length > 0 ? [...options.trustedProxies] : false,
    // Tokens are long; the default 100-character parameter limit would 404 real links.
    routerOptions: { maxParamLength: 8192 },
  });
  registerTrackingRoutes(app, deps);
  if (deps.health) registerHealthRoutes(app, deps.health);
  return app;
}

export async function startHttpServer(
  options: HttpServerOptions,
  deps: TrackingRouteDeps & { log: Logger; health?: HealthRouteDeps | undefined },
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
