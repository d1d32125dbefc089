/**
 * Operations endpoints on the HTTP listener: GET /metrics (Prometheus text format), GET /healthz
 * (the process answers: 200) and GET /readyz (200 once the spool is recovered and the listeners are
 * bound, 503 before that and while shutting down), for load balancers and orchestrators.
 */
import type { FastifyInstance } from 'fastify';
import type { SluiceMetrics } from '../metrics/metrics.js';

export interface HealthRouteDeps {
  metrics: SluiceMetrics;
  ready(): boolean;
}

export function registerHealthRoutes(app: FastifyInstance, deps: HealthRouteDeps): void {
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await deps.metrics.render();
    reply.type(contentType).send(body);
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (deps.ready()) return { status: 'ready' };
    reply.code(503);
    return { status: 'not ready' };
  });
}
