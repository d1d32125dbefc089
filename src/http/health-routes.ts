/**
 * Operations endpoints on the HTTP listener: GET /metrics (Prometheus text format), GET /healthz
 * (the process answers: 200) and GET /readyz (200 once the spool is recovered and the listeners are
 * bound, 503 before that and while shutting down), for load balancers and orchestrators.
 * The same listener serves tracking links to the Internet, so these answer only clients in
 * admin.http_networks (after X-Forwarded-For from trusted proxies); anyone else gets the 404 of
 * an unknown route, which tells a scanner nothing.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NetworkSet } from '../core/networks.js';
import type { SluiceMetrics } from '../metrics/metrics.js';

export interface HealthRouteDeps {
  metrics: SluiceMetrics;
  ready(): boolean;
  networks: NetworkSet;
}

export function registerHealthRoutes(app: FastifyInstance, deps: HealthRouteDeps): void {
  const onRequest = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!deps.networks.has(request.ip)) reply.callNotFound();
  };
  app.get('/metrics', { onRequest }, async (_request, reply) => {
    const { contentType, body } = await deps.metrics.render();
    reply.type(contentType).send(body);
  });
  app.get('/healthz', { onRequest }, async () => ({ status: 'ok' }));
  app.get('/readyz', { onRequest }, async (_request, reply) => {
    if (deps.ready()) return { status: 'ready' };
    reply.code(503);
    return { status: 'not ready' };
  });
}
