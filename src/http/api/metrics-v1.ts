/**
 * SparkPost's Metrics API under /api/v1/metrics (grant metrics/view): the summary, the group-by
 * endpoints, time-series, bounce/rejection/delay reasons, link names, deliveries by attempt, the
 * lists of values, the discoverability root and the query_filters schema. Each handler reads its
 * parameters (metrics-params.ts) and calls the query layer (core/metrics/query.ts), which reads
 * rollups only. Documented paths whose data Sluice does not record answer a 422 saying why.
 * With metrics.rollups off every path answers a 422 naming that option.
 */
import { z } from 'zod';
import {
  AGGREGATE_METRICS,
  BOUNCE_REASON_METRICS,
  LINK_METRICS,
  TIME_SERIES_METRICS,
} from '../../core/metrics/definitions.js';
import {
  type GroupDimension,
  MetricsQueryError,
  type MetricsService,
  type MetricsWindow,
} from '../../core/metrics/query.js';
import { isTimeZone } from '../../core/metrics/time.js';
import { ApiError, invalidValue } from './errors.js';
import {
  aggregateQuery,
  attemptQuery,
  bounceReasonQuery,
  dateParam,
  groupByQuery,
  linkNameQuery,
  parseQuery,
  queryFiltersSchema,
  reasonQuery,
  timeSeriesQuery,
  valuesQuery,
} from './metrics-params.js';
import { type ApiRoute, route } from './route.js';

const BASE = '/api/v1/metrics';
const DELIVERABILITY = `${BASE}/deliverability`;
const rows = z.array(z.record(z.string(), z.union([z.string(), z.number()])));

/** Group-by paths and what they group by. */
const GROUPINGS: Array<[string, GroupDimension]> = [
  ['domain', 'domain'],
  ['campaign', 'campaign'],
  ['sending-domain', 'sending_domain'],
  ['template', 'template'],
  ['watched-domain', 'watched_domain'],
  ['subaccount', 'subaccount'],
  ['ip-pool', 'ip_pool'],
];

/** Lists (/metrics/<name>) and the dimension each lists. */
const LISTS: Array<[string, 'campaign' | 'template' | 'domain' | 'sending_domain' | 'ip_pool']> = [
  ['campaigns', 'campaign'],
  ['templates', 'template'],
  ['domains', 'domain'],
  ['sending-domains', 'sending_domain'],
  ['ip-pools', 'ip_pool'],
];

/** Documented paths without data in Sluice, and why. */
const UNSUPPORTED_PATHS: Array<[string, string]> = [
  [
    `${DELIVERABILITY}/sending-ip`,
    'Sluice does not record the sending IP in its events (see /deliverability/ip-pool)',
  ],
  [`${DELIVERABILITY}/mailbox-provider`, 'Sluice has no mailbox provider data (see /deliverability/domain)'],
  [
    `${DELIVERABILITY}/mailbox-provider-region`,
    'Sluice has no mailbox provider data (see /deliverability/domain)',
  ],
  [`${DELIVERABILITY}/subject-campaign`, 'a SparkPost Deliverability Add-On report Sluice has no data for'],
  [`${BASE}/sending-ips`, 'Sluice does not record the sending IP in its events (see /metrics/ip-pools)'],
  [`${BASE}/mailbox-providers`, 'Sluice has no mailbox provider data (see /metrics/domains)'],
  [`${BASE}/mailbox-provider-regions`, 'Sluice has no mailbox provider data (see /metrics/domains)'],
  [`${BASE}/subject-campaigns`, 'a SparkPost Deliverability Add-On list Sluice has no data for'],
  [`${BASE}/benchmarks/inbox-rate`, 'a SparkPost Deliverability Add-On report Sluice has no data for'],
];

export function metricsRoutes(service: MetricsService | null, now: () => number = Date.now): ApiRoute[] {
  /** The service, or the 422 that says metrics are off. */
  const live = (): MetricsService => {
    if (service) return service;
    throw new ApiError(422, {
      message: 'metrics are off',
      code: '1300',
      description: "metrics.rollups is false in this server's configuration: no metrics are kept",
    });
  };
  /** Query-layer refusals as the 422 naming the parameter. */
  const answer = async <T>(work: () => Promise<T>): Promise<{ results: T }> => {
    try {
      return { results: await work() };
    } catch (error) {
      if (error instanceof MetricsQueryError) throw invalidValue(error.field, error.problem);
      throw error;
    }
  };
  const common = { grant: 'metrics/view' as const, tag: 'Metrics' };

  const routes: ApiRoute[] = [
    ...[BASE, `${BASE}/`].map((url) =>
      route({
        ...common,
        method: 'GET',
        url,
        summary: 'Discoverability: the Metrics API paths',
        async handler() {
          live();
          const links = [
            { href: `${BASE}/`, rel: '', method: 'GET' },
            { href: DELIVERABILITY, rel: 'deliverability', method: 'GET' },
            ...LISTS.map(([name]) => ({ href: `${BASE}/${name}`, rel: name, method: 'GET' })),
          ];
          return { results: {}, links };
        },
      }),
    ),
    route({
      ...common,
      method: 'GET',
      url: DELIVERABILITY,
      summary: 'Metrics summary over a window',
      query: aggregateQuery,
      results: rows,
      async handler({ query }) {
        const metrics = live();
        const q = parseQuery(query, AGGREGATE_METRICS, now());
        const { results } = await answer(async () => [await metrics.summary(q.window, q.filter, q.metrics)]);
        return {
          results,
          links: [
            { href: DELIVERABILITY, rel: 'deliverability', method: 'GET' },
            ...GROUPINGS.map(([path]) => ({ href: `${DELIVERABILITY}/${path}`, rel: path, method: 'GET' })),
          ],
        };
      },
    }),
    ...GROUPINGS.map(([path, dimension]) =>
      route({
        ...common,
        method: 'GET',
        url: `${DELIVERABILITY}/${path}`,
        summary: `Metrics grouped by ${path.replace('-', ' ')}`,
        query: groupByQuery,
        results: rows,
        async handler({ query }) {
          const metrics = live();
          const q = parseQuery(query, AGGREGATE_METRICS, now());
          return answer(() =>
            metrics.groupBy(dimension, q.window, q.filter, q.metrics, {
              ...(query.limit !== undefined ? { limit: query.limit } : {}),
              ...(query.order_by !== undefined ? { orderBy: query.order_by } : {}),
            }),
          );
        },
      }),
    ),
    route({
      ...common,
      method: 'GET',
      url: `${DELIVERABILITY}/time-series`,
      summary: 'Metrics per time bucket of the precision',
      query: timeSeriesQuery,
      results: rows,
      async handler({ query }) {
        const metrics = live();
        const q = parseQuery(query, TIME_SERIES_METRICS, now());
        return answer(() => metrics.timeSeries(q.window, q.filter, q.metrics));
      },
    }),
    ...[false, true].map((byDomain) =>
      route({
        ...common,
        method: 'GET',
        url: `${DELIVERABILITY}/bounce-reason${byDomain ? '/domain' : ''}`,
        summary: `Bounces by reason${byDomain ? ' and recipient domain' : ''}`,
        query: bounceReasonQuery,
        results: rows,
        async handler({ query }) {
          const metrics = live();
          const q = parseQuery(query, BOUNCE_REASON_METRICS, now());
          return answer(() =>
            metrics.bounceReasons(q.window, q.filter, q.metrics, { byDomain, ...limitOf(query) }),
          );
        },
      }),
    ),
    route({
      ...common,
      method: 'GET',
      url: `${DELIVERABILITY}/bounce-classification`,
      summary: 'Bounces by bounce class',
      query: bounceReasonQuery,
      results: rows,
      async handler({ query }) {
        const metrics = live();
        const q = parseQuery(query, BOUNCE_REASON_METRICS, now());
        return answer(() => metrics.bounceClassifications(q.window, q.filter, q.metrics, limitOf(query)));
      },
    }),
    ...(['rejection', 'delay'] as const).flatMap((kind) =>
      [false, true].map((byDomain) =>
        route({
          ...common,
          method: 'GET',
          url: `${DELIVERABILITY}/${kind}-reason${byDomain ? '/domain' : ''}`,
          summary: `${kind === 'delay' ? 'Delays' : 'Rejections'} by reason${byDomain ? ' and recipient domain' : ''}`,
          query: reasonQuery,
          results: rows,
          async handler({ query }) {
            const metrics = live();
            const q = parseQuery(query, null, now());
            const options = { byDomain, ...limitOf(query) };
            return answer(() =>
              kind === 'delay'
                ? metrics.delayReasons(q.window, q.filter, options)
                : metrics.rejectionReasons(q.window, q.filter, options),
            );
          },
        }),
      ),
    ),
    route({
      ...common,
      method: 'GET',
      url: `${DELIVERABILITY}/link-name`,
      summary: 'Clicks by link name (data-msys-linkname), else by URL',
      query: linkNameQuery,
      results: rows,
      async handler({ query }) {
        const metrics = live();
        const q = parseQuery(query, LINK_METRICS, now());
        return answer(() => metrics.linkNames(q.window, q.filter, q.metrics, limitOf(query)));
      },
    }),
    route({
      ...common,
      method: 'GET',
      url: `${DELIVERABILITY}/attempt`,
      summary: 'Deliveries by attempt (1, 2, 3+)',
      query: attemptQuery,
      results: rows,
      async handler({ query }) {
        const metrics = live();
        const q = parseQuery(query, null, now());
        return answer(() => metrics.attempts(q.window, q.filter));
      },
    }),
    route({
      ...common,
      method: 'GET',
      url: `${DELIVERABILITY}/query-filters-schema`,
      summary: 'The JSON schema of the query_filters parameter',
      async handler() {
        live();
        return { results: z.toJSONSchema(queryFiltersSchema, { target: 'draft-7' }) };
      },
    }),
    ...LISTS.map(([name, dimension]) =>
      route({
        ...common,
        method: 'GET',
        url: `${BASE}/${name}`,
        summary: `The ${name.replace('-', ' ')} with metrics in the window`,
        query: valuesQuery,
        async handler({ query }) {
          const metrics = live();
          const timezone = query.timezone ?? 'UTC';
          if (!isTimeZone(timezone)) throw invalidValue('timezone', `"${timezone}" is not an IANA time zone`);
          const from = dateParam(query, 'from', timezone);
          const to = dateParam(query, 'to', timezone) ?? now();
          const window: MetricsWindow | null = from === null ? null : { from, to, timezone };
          const { results } = await answer(() =>
            metrics.values(dimension, window, {
              ...(query.match !== undefined ? { match: query.match } : {}),
              ...limitOf(query),
            }),
          );
          return { results: { [name]: results } };
        },
      }),
    ),
    ...UNSUPPORTED_PATHS.map(([url, why]) =>
      route({
        ...common,
        method: 'GET',
        url,
        summary: `Refused: ${why}`,
        async handler() {
          throw invalidValue(url.slice(url.lastIndexOf('/') + 1), `not supported: ${why}`);
        },
      }),
    ),
  ];
  return routes;
}

function limitOf(query: { limit?: number | undefined }): { limit?: number } {
  return query.limit === undefined ? {} : { limit: query.limit };
}
