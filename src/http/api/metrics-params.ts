/**
 * SparkPost's Metrics API query parameters: one zod schema per endpoint, holding exactly the
 * parameters SparkPost documents for it (anything else is a 422 naming it), and their reading
 * into the query layer's terms (core/metrics/query.ts): `from`/`to` as YYYY-MM-DDTHH:MM in
 * `timezone`, lists split on `delimiter`, `query_filters` as JSON checked against its schema
 * (400 with `validationErrors`, as SparkPost), metric names checked against the endpoint's list.
 * A documented parameter whose data Sluice does not record (sending_ips, mailbox_providers, …)
 * is refused with a 422 that says why, never ignored.
 */
import { z } from 'zod';
import { UNSUPPORTED_METRICS } from '../../core/metrics/definitions.js';
import {
  type AdvancedFilter,
  FILTER_KEYS,
  type MetricsFilter,
  type SimpleFilter,
  UNSUPPORTED_FILTERS,
} from '../../core/metrics/filter.js';
import type { MetricsWindow } from '../../core/metrics/query.js';
import {
  AGGREGATE_PRECISIONS,
  isTimeZone,
  PRECISIONS,
  type Precision,
  parseDateTime,
} from '../../core/metrics/time.js';
import { ApiError, invalidValue } from './errors.js';

const text = (description: string) => z.string().max(10_000).describe(description);
const list = (description: string) => text(`${description} (delimited list)`).optional();

const COMMON = {
  from: text('Start of the window, YYYY-MM-DDTHH:MM in `timezone`'),
  to: text('End of the window (exclusive), YYYY-MM-DDTHH:MM; default now').optional(),
  delimiter: z.string().min(1).max(8).optional().describe('Delimiter of list parameters; default ","'),
  timezone: z
    .string()
    .max(64)
    .optional()
    .describe('IANA time zone of from/to and sub-day buckets; default UTC'),
};

const FILTERS = {
  query_filters: text('Advanced filters as JSON (see /deliverability/query-filters-schema)').optional(),
  domains: list('Recipient domains'),
  campaigns: list('Campaign ids'),
  templates: list('Template ids'),
  sending_domains: list('Sending (From:) domains'),
  subaccounts: list('Subaccount ids (0: the primary account)'),
  ip_pools: list('IP pools'),
  sending_ips: list('Refused: Sluice does not record sending IPs'),
  mailbox_providers: list('Refused: Sluice has no mailbox provider data'),
  mailbox_provider_regions: list('Refused: Sluice has no mailbox provider data'),
};

const metricsParam = text('Metrics to return (delimited list)');
const limit = z.coerce
  .number()
  .int()
  .min(1)
  .max(10_000)
  .optional()
  .describe('Results, 1 to 10000; default 1000');
const orderBy = z
  .string()
  .max(64)
  .optional()
  .describe('Metric to order by, descending; default the first of `metrics`');

/** Summary and group-by endpoints. */
export const aggregateQuery = z.strictObject({
  ...COMMON,
  ...FILTERS,
  subject_campaigns: list('Refused: a Deliverability Add-On filter'),
  precision: z.enum(AGGREGATE_PRECISIONS as [Precision, ...Precision[]]).optional(),
  metrics: metricsParam,
});

export const groupByQuery = aggregateQuery.extend({ limit, order_by: orderBy });

export const timeSeriesQuery = aggregateQuery.extend({ precision: z.enum(PRECISIONS).optional() });

/** bounce-reason and bounce-classification (and bounce-reason/domain, which SparkPost lists without mailbox filters). */
export const bounceReasonQuery = z.strictObject({ ...COMMON, ...FILTERS, metrics: metricsParam, limit });

/** rejection-reason, delay-reason (and /domain): no metrics parameter. */
export const reasonQuery = z.strictObject({ ...COMMON, ...FILTERS, limit });

/** link-name: no recipient domain, IP pool or sending IP filters. */
export const linkNameQuery = z.strictObject({
  ...COMMON,
  query_filters: FILTERS.query_filters,
  campaigns: FILTERS.campaigns,
  templates: FILTERS.templates,
  sending_domains: FILTERS.sending_domains,
  subaccounts: FILTERS.subaccounts,
  mailbox_providers: FILTERS.mailbox_providers,
  mailbox_provider_regions: FILTERS.mailbox_provider_regions,
  metrics: metricsParam,
  limit,
});

export const attemptQuery = z.strictObject({ ...COMMON, ...FILTERS });

/** The lists (/metrics/campaigns, …): `from` is optional there. */
export const valuesQuery = z.strictObject({
  from: COMMON.from.optional(),
  to: COMMON.to,
  timezone: COMMON.timezone,
  match: z.string().max(256).optional().describe('Only values containing this'),
  limit,
});

/** `query_filters`, as SparkPost documents it (this schema is also what /query-filters-schema serves). */
const comparators = z.strictObject({
  eq: z.array(z.string()).min(1).optional(),
  like: z.array(z.string().min(3)).min(1).optional(),
  notEq: z.array(z.string()).min(1).optional(),
  notLike: z.array(z.string().min(3)).min(1).optional(),
});
const FILTER_SCHEMA_KEYS = [...FILTER_KEYS, ...Object.keys(UNSUPPORTED_FILTERS)] as [string, ...string[]];
const conditions = z.partialRecord(z.enum(FILTER_SCHEMA_KEYS), comparators);
export const queryFiltersSchema = z.strictObject({
  groupings: z.array(z.union([z.strictObject({ AND: conditions }), z.strictObject({ OR: conditions })])),
});

export interface ParsedQuery {
  window: MetricsWindow;
  filter: MetricsFilter;
  metrics: string[];
}

type AnyQuery = Partial<Record<string, string | number | undefined>>;

/** The window, filter and metrics of a request; throws the 4xx SparkPost would answer. */
export function parseQuery(
  query: AnyQuery,
  allowedMetrics: readonly string[] | null,
  now: number,
): ParsedQuery {
  const timezone = (query.timezone as string | undefined) ?? 'UTC';
  if (!isTimeZone(timezone)) throw invalidValue('timezone', `"${timezone}" is not an IANA time zone`);
  const from = dateParam(query, 'from', timezone);
  if (from === null)
    throw new ApiError(422, {
      message: 'required field is missing',
      code: '1400',
      description: 'from is required',
    });
  const window: MetricsWindow = { from, to: dateParam(query, 'to', timezone) ?? now, timezone };
  if (query.precision !== undefined) window.precision = query.precision as Precision;
  const metrics = allowedMetrics === null ? [] : metricsOf(query, allowedMetrics);
  if (
    query.order_by !== undefined &&
    allowedMetrics !== null &&
    !allowedMetrics.includes(String(query.order_by))
  )
    throw invalidValue('order_by', `must be one of this endpoint's metrics: ${allowedMetrics.join(', ')}`);
  return { window, filter: filterOf(query), metrics };
}

export function dateParam(query: AnyQuery, name: 'from' | 'to', zone: string): number | null {
  const value = query[name];
  if (value === undefined) return null;
  const ms = parseDateTime(String(value), zone);
  if (ms === null) throw invalidValue(name, 'must be a date and time as YYYY-MM-DDTHH:MM');
  return ms;
}

function split(query: AnyQuery, name: string): string[] | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  const delimiter = (query.delimiter as string | undefined) ?? ',';
  const items = String(value)
    .split(delimiter)
    .map((v) => v.trim())
    .filter(Boolean);
  if (items.length === 0) throw invalidValue(name, 'must list at least one value');
  return items;
}

function metricsOf(query: AnyQuery, allowed: readonly string[]): string[] {
  const names = split(query, 'metrics');
  if (!names)
    throw new ApiError(422, {
      message: 'required field is missing',
      code: '1400',
      description: 'metrics is required',
    });
  for (const name of names) {
    if (allowed.includes(name)) continue;
    const why = UNSUPPORTED_METRICS[name];
    throw invalidValue(
      'metrics',
      why
        ? `${name} is not available: ${why}`
        : `${name} is not a metric of this endpoint (${allowed.join(', ')})`,
    );
  }
  return [...new Set(names)];
}

function filterOf(query: AnyQuery): MetricsFilter {
  for (const [name, why] of Object.entries(UNSUPPORTED_FILTERS))
    if (query[name] !== undefined) throw invalidValue(name, `not supported: ${why}`);
  const simple: SimpleFilter = {};
  for (const key of FILTER_KEYS) {
    const values = split(query, key);
    if (values) simple[key] = values;
  }
  if (simple.subaccounts?.some((v) => !/^\d{1,10}$/.test(v)))
    throw invalidValue('subaccounts', 'must list subaccount ids (whole numbers)');
  if (query.query_filters === undefined) return { simple };
  const named = Object.keys(simple);
  // SparkPost ignores simple filters next to query_filters; Sluice says so instead of ignoring them.
  if (named.length > 0)
    throw invalidValue(named[0]!, 'cannot be combined with query_filters (put it inside query_filters)');
  return { advanced: advancedFilter(String(query.query_filters)) };
}

function advancedFilter(raw: string): AdvancedFilter {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw badFilters(['query_filters is not JSON']);
  }
  const parsed = queryFiltersSchema.safeParse(json);
  if (!parsed.success)
    throw badFilters(
      parsed.error.issues.map((i) => `${['query_filters', ...i.path].join('.')}: ${i.message}`),
    );
  for (const group of parsed.data.groupings)
    for (const key of Object.keys('AND' in group ? group.AND : group.OR)) {
      const why = UNSUPPORTED_FILTERS[key];
      if (why) throw invalidValue(`query_filters.${key}`, `not supported: ${why}`);
    }
  // Every key left is a FilterKey: the others were refused above.
  return parsed.data as unknown as AdvancedFilter;
}

/** SparkPost answers a query_filters schema violation with a 400 listing them in validationErrors. */
function badFilters(problems: string[]): ApiError {
  return new ApiError(400, {
    message: 'invalid query_filters',
    code: '1300',
    description: problems[0]!,
    validationErrors: problems,
  });
}
