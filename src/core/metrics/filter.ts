/**
 * Which dimension combinations a Metrics API query covers: SparkPost's simple filters (each a
 * list of exact values, "any of"; lists combine with AND) or its advanced `query_filters`
 * (groupings combined with AND; in each, one AND or OR over conditions `eq` (any of the values),
 * `like` (contains one of them, case-insensitive), `notEq`, `notLike`). Filtering happens on the
 * store's list of combinations, so rollup rows are read only for the combinations that match.
 */
import type { Dimension, MetricsDims } from './rollup.js';

export const FILTER_KEYS = [
  'domains',
  'campaigns',
  'templates',
  'sending_domains',
  'subaccounts',
  'ip_pools',
] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];

/** Filters SparkPost documents whose dimension Sluice does not record, with why (the 422's text). */
export const UNSUPPORTED_FILTERS: Record<string, string> = {
  sending_ips: 'Sluice does not record the sending IP in its events (filter by ip_pools instead)',
  mailbox_providers: 'Sluice has no mailbox provider data (filter by domains instead)',
  mailbox_provider_regions: 'Sluice has no mailbox provider data (filter by domains instead)',
  subject_campaigns: 'a SparkPost Deliverability Add-On filter Sluice has no data for',
};

export type SimpleFilter = Partial<Record<FilterKey, readonly string[]>>;

export interface Comparators {
  eq?: readonly string[];
  like?: readonly string[];
  notEq?: readonly string[];
  notLike?: readonly string[];
}

export type CompareGroup =
  | { AND: Partial<Record<FilterKey, Comparators>> }
  | { OR: Partial<Record<FilterKey, Comparators>> };

export interface AdvancedFilter {
  groupings: readonly CompareGroup[];
}

export interface MetricsFilter {
  simple?: SimpleFilter;
  advanced?: AdvancedFilter;
}

/** The dimension each filter key compares. */
export const FILTER_DIMENSIONS: Record<FilterKey, Dimension> = {
  domains: 'domain',
  campaigns: 'campaign',
  templates: 'template',
  sending_domains: 'sending_domain',
  subaccounts: 'subaccount',
  ip_pools: 'ip_pool',
};

/** The dimensions a filter looks at (a query on one of them can read its projection). */
export function filterDimensions(filter: MetricsFilter): Set<Dimension> {
  const out = new Set<Dimension>();
  if (filter.advanced) {
    for (const group of filter.advanced.groupings)
      for (const key of Object.keys('AND' in group ? group.AND : group.OR))
        if (key in FILTER_DIMENSIONS) out.add(FILTER_DIMENSIONS[key as FilterKey]);
    return out;
  }
  for (const key of FILTER_KEYS) if (filter.simple?.[key]) out.add(FILTER_DIMENSIONS[key]);
  return out;
}

/** The value a filter key compares against. */
export function dimensionValue(dims: MetricsDims, key: FilterKey): string {
  switch (key) {
    case 'domains':
      return dims.domain;
    case 'campaigns':
      return dims.campaign;
    case 'templates':
      return dims.template;
    case 'sending_domains':
      return dims.sending_domain;
    case 'subaccounts':
      return String(dims.subaccount);
    case 'ip_pools':
      return dims.ip_pool;
  }
}

/** True when the filter selects every combination. */
export function selectsAll(filter: MetricsFilter): boolean {
  if (filter.advanced) return filter.advanced.groupings.length === 0;
  return !filter.simple || Object.values(filter.simple).every((values) => values === undefined);
}

export function matches(filter: MetricsFilter, dims: MetricsDims): boolean {
  if (filter.advanced) return filter.advanced.groupings.every((group) => groupMatches(group, dims));
  for (const key of FILTER_KEYS) {
    const values = filter.simple?.[key];
    if (values && !values.includes(dimensionValue(dims, key))) return false;
  }
  return true;
}

function groupMatches(group: CompareGroup, dims: MetricsDims): boolean {
  const all = 'AND' in group;
  const conditions = 'AND' in group ? group.AND : group.OR;
  const results: boolean[] = [];
  for (const key of FILTER_KEYS) {
    const comparators = conditions[key];
    if (!comparators) continue;
    const value = dimensionValue(dims, key);
    const lower = value.toLowerCase();
    const contains = (needles: readonly string[]) => needles.some((n) => lower.includes(n.toLowerCase()));
    if (comparators.eq) results.push(comparators.eq.includes(value));
    if (comparators.like) results.push(contains(comparators.like));
    if (comparators.notEq) results.push(!comparators.notEq.includes(value));
    if (comparators.notLike) results.push(!contains(comparators.notLike));
  }
  if (results.length === 0) return true;
  return all ? results.every(Boolean) : results.some(Boolean);
}
