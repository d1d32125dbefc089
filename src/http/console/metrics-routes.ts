/**
 * The console's metrics-based views: overview (injected, delivered, deferred, bounced, opened,
 * clicked for the last hour and day, a time series, delivery and bounce rates), bounces and
 * delays by class and reason per domain over time, and engagement per campaign.
 *
 * They are answered from the Metrics API's rollups (SparkPost's /api/v1/metrics), never by
 * scanning raw events here: a second, slower implementation of the same counts would disagree
 * with the API's. Until a ConsoleMetricsSource is given (built on that API's query service),
 * each endpoint answers 501 naming what is missing, and the page says so in the view.
 */
import { z } from 'zod';
import { ApiError, invalidValue } from '../api/errors.js';
import { consoleRoute } from './route.js';
import type { BouncesView, EngagementView, OverviewView } from './shapes.js';

/** The seam the Metrics API's query service plugs into. */
export interface ConsoleMetricsSource {
  overview(now: Date): Promise<OverviewView>;
  bounces(query: { from: Date; to: Date; domain?: string | undefined }): Promise<BouncesView>;
  engagement(query: { from: Date; to: Date; campaign?: string | undefined }): Promise<EngagementView>;
}

export const METRICS_MISSING =
  'this view needs the Metrics API (/api/v1/metrics rollups), which this build of Sluice does not have yet';

const notImplemented = () =>
  new ApiError(501, { message: 'not implemented', code: '1501', description: METRICS_MISSING });

const DAY = 86_400_000;

const period = {
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
};
const bouncesQuery = z.strictObject({ ...period, domain: z.string().max(255).optional() });
const engagementQuery = z.strictObject({ ...period, campaign: z.string().max(64).optional() });

/** The asked period, by default the last day; `from` must come before `to`. */
function bounds(query: { from?: string | undefined; to?: string | undefined }): { from: Date; to: Date } {
  const to = query.to ? new Date(query.to) : new Date();
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - DAY);
  if (from >= to) throw invalidValue('from', 'must be before to');
  return { from, to };
}

export function metricsRoutes(source: ConsoleMetricsSource | undefined) {
  return [
    consoleRoute({
      method: 'GET',
      url: '/overview',
      access: 'view',
      handler: async (): Promise<OverviewView> => {
        if (!source) throw notImplemented();
        return await source.overview(new Date());
      },
    }),
    consoleRoute({
      method: 'GET',
      url: '/bounces',
      access: 'view',
      query: bouncesQuery,
      handler: async ({ query }): Promise<BouncesView> => {
        if (!source) throw notImplemented();
        return await source.bounces({ ...bounds(query), domain: query.domain });
      },
    }),
    consoleRoute({
      method: 'GET',
      url: '/engagement',
      access: 'view',
      query: engagementQuery,
      handler: async ({ query }): Promise<EngagementView> => {
        if (!source) throw notImplemented();
        return await source.engagement({ ...bounds(query), campaign: query.campaign });
      },
    }),
  ];
}
