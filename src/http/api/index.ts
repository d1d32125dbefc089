/**
 * The SparkPost-shaped API under /api/v1: gathers the endpoint groups (one file each), registers
 * them with auth, rate limit and validation, and serves the OpenAPI document built from them.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config/schema.js';
import type { KeyService } from '../../core/keys.js';
import type { MetricsService } from '../../core/metrics/query.js';
import { RequestRate } from '../../core/request-rate.js';
import type { Logger } from '../../log.js';
import type { QueueManager } from '../../queue/manager.js';
import type { Spool } from '../../queue/spool.js';
import type {
  EventStore,
  RecipientListStore,
  SuppressionStore,
  TemplateStore,
  TransmissionStore,
  WebhookStore,
} from '../../store/types.js';
import type { WebhookDispatcher } from '../../webhooks/dispatcher.js';
import { apiKeyRoutes } from './api-keys-v1.js';
import { eventRoutes } from './events-v1.js';
import { metricsRoutes } from './metrics-v1.js';
import { registerOpenApi } from './openapi-v1.js';
import { recipientListRoutes } from './recipient-lists-v1.js';
import { type ApiRoute, registerRoutes } from './route.js';
import { suppressionRoutes } from './suppression-list-v1.js';
import { templateRoutes } from './templates-v1.js';
import { transmissionRoutes } from './transmissions-v1.js';
import { webhookRoutes } from './webhooks-v1.js';

export interface ApiDeps {
  config: Config;
  hostname: string;
  keys: KeyService;
  events: EventStore;
  suppressions: SuppressionStore;
  webhooks: WebhookStore;
  /** null: webhooks are managed but not delivered by this process. */
  dispatcher: WebhookDispatcher | null;
  spool: Spool;
  queue: QueueManager;
  log: Logger;
  templates: TemplateStore;
  recipientLists: RecipientListStore;
  transmissions: TransmissionStore;
  /** Generates stored transmissions; kicked when one is submitted for generation now. null: none here. */
  scheduler: { kick(): void } | null;
  /** The Metrics API's query layer; null or absent: metrics.rollups is off (the routes say so). */
  metrics?: MetricsService | null;
}

export const API_VERSION = '1.0.0';

export function apiRoutes(deps: ApiDeps): ApiRoute[] {
  return [
    ...transmissionRoutes(deps),
    ...templateRoutes(deps),
    ...recipientListRoutes(deps),
    ...apiKeyRoutes(deps.keys),
    ...eventRoutes(deps.events),
    ...suppressionRoutes(deps.suppressions),
    ...webhookRoutes({
      store: deps.webhooks,
      dispatcher: deps.dispatcher,
      timeoutMs: deps.config.webhooks.timeout,
      allowPrivateTargets: deps.config.webhooks.allow_private_targets,
      log: deps.log,
    }),
    ...metricsRoutes(deps.metrics ?? null),
  ];
}

export function registerApi(app: FastifyInstance, deps: ApiDeps): void {
  const routes = apiRoutes(deps);
  const rate = new RequestRate(deps.config.http.rate_limit, deps.config.http.rate_window);
  registerRoutes(app, routes, { keys: deps.keys, rate, maxBody: deps.config.http.max_body });
  registerOpenApi(app, routes, API_VERSION);
}
