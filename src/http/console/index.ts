/**
 * The operator console on the HTTP listener, under /console: the page (static files built by
 * `npm run build`) and the JSON endpoints it reads, under /console/api. Only clients in
 * admin.http_networks reach any of it (after X-Forwarded-For from trusted proxies), as for
 * /metrics: anyone else gets the plain 404 of an unknown route. Every answer carries the
 * console's security headers (security.ts); every endpoint but sign-in needs a session
 * (route.ts). Registered in its own fastify scope, so its hooks touch nothing else.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthThrottle } from '../../core/auth-throttle.js';
import type { ConsoleSessions } from '../../core/console-sessions.js';
import type { KeyService } from '../../core/keys.js';
import type { NetworkSet } from '../../core/networks.js';
import type { Logger } from '../../log.js';
import type { QueueControl } from '../../queue/control.js';
import type { DeliveryView } from '../../queue/destinations.js';
import type { QueueManager } from '../../queue/manager.js';
import type { Spool } from '../../queue/spool.js';
import type { EventStore, SuppressionStore, WebhookStore } from '../../store/types.js';
import type { WebhookDispatcher } from '../../webhooks/dispatcher.js';
import { ApiError, sendError } from '../api/errors.js';
import { listRoutes } from './list-routes.js';
import { type ConsoleMetricsSource, metricsRoutes } from './metrics-routes.js';
import { queueRoutes } from './queue-routes.js';
import { registerConsoleRoutes } from './route.js';
import { SECURITY_HEADERS } from './security.js';
import { registerSignIn, sessionRoutes } from './session-routes.js';
import { IMMUTABLE, StaticFiles, sendStatic } from './static-files.js';
import { traceRoutes } from './trace-routes.js';

export interface ConsoleDeps {
  /** admin.http_networks: the only clients that reach the console. */
  networks: NetworkSet;
  sessions: ConsoleSessions;
  /** Slows repeated failed sign-ins from one address. */
  throttle: AuthThrottle;
  keys: KeyService;
  events: EventStore;
  suppressions: SuppressionStore;
  webhooks: WebhookStore;
  dispatcher: WebhookDispatcher | null;
  queue: QueueManager;
  control: QueueControl;
  spool: Spool;
  delivery: DeliveryView;
  log: Logger;
  /** The Metrics API's rollups for the overview, bounces and engagement views; absent: 501. */
  metrics?: ConsoleMetricsSource | undefined;
  /** The built page; read from dist/console when absent. */
  files?: StaticFiles;
}

export function registerConsole(app: FastifyInstance, deps: ConsoleDeps): void {
  const files = deps.files ?? StaticFiles.load();
  if (!files.index) deps.log.warn('console: the page is not built (run npm run build); /console answers 503');
  const outsiders = new WeakSet<FastifyRequest>();
  app.register(
    async (scope) => {
      scope.addHook('onRequest', async (request, reply) => {
        if (deps.networks.has(request.ip)) return;
        outsiders.add(request);
        reply.callNotFound();
      });
      scope.addHook('onSend', async (request, reply, payload) => {
        if (!outsiders.has(request)) reply.headers(SECURITY_HEADERS);
        return payload;
      });

      scope.get('/', async (request, reply) => {
        if (!files.index)
          return sendError(
            reply,
            new ApiError(503, {
              message: 'console not built',
              description: 'the console page was not built: run npm run build (or make build)',
            }),
          );
        return sendStatic(request, reply, files.index, 'no-cache');
      });
      scope.get('/assets/:name', async (request, reply) => {
        const file = files.asset((request.params as { name: string }).name);
        if (!file) return reply.callNotFound();
        return sendStatic(request, reply, file, IMMUTABLE);
      });

      const log = deps.log.child({ part: 'console' });
      const metrics = deps.metrics !== undefined;
      registerSignIn(scope, { sessions: deps.sessions, throttle: deps.throttle, log, metrics });
      registerConsoleRoutes(
        scope,
        [
          ...sessionRoutes({ sessions: deps.sessions, throttle: deps.throttle, log, metrics }),
          ...queueRoutes({ ...deps, log }),
          ...traceRoutes(deps),
          ...listRoutes({ ...deps, log }),
          ...metricsRoutes(deps.metrics),
        ],
        deps.sessions,
      );
    },
    { prefix: '/console' },
  );
}
