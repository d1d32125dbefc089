/**
 * The metrics bench's questions, asked over HTTP of a real `sluice serve` holding the loaded
 * rollups, one at a time, each `reps` times after a warm-up: what an operator console asks
 * (summaries, charts, bounces, engagement), from the cheapest (one month, day precision) to the
 * costliest (a filtered month of hourly buckets; every combination of a month grouped by domain).
 */
import { performance } from 'node:perf_hooks';
import { percentile } from './relay-injector.js';

export interface Question {
  name: string;
  path: string;
}

const minute = (ms: number) => new Date(ms).toISOString().slice(0, 16);

export function questions(now: number): Question[] {
  const day = 86_400_000;
  const month = `from=${minute(now - 30 * day)}&to=${minute(now)}`;
  const week = `from=${minute(now - 7 * day)}&to=${minute(now)}`;
  const last24h = `from=${minute(now - day + 60_000)}&to=${minute(now)}`;
  const all =
    'count_targeted,count_injected,count_sent,count_accepted,count_delivered,count_bounce,count_hard_bounce,' +
    'count_soft_bounce,count_block_bounce,count_delayed,count_rendered,count_unique_rendered,count_clicked,count_unique_clicked';
  const d = '/api/v1/metrics/deliverability';
  return [
    { name: 'summary, 30 days, day precision', path: `${d}?${month}&precision=day&metrics=${all}` },
    { name: 'summary, 24 h, 1min precision', path: `${d}?${last24h}&precision=1min&metrics=${all}` },
    { name: 'time-series, 30 days by day', path: `${d}/time-series?${month}&precision=day&metrics=${all}` },
    {
      name: 'time-series, 24 h by hour, America/New_York',
      path: `${d}/time-series?${last24h}&precision=hour&timezone=America/New_York&metrics=${all}`,
    },
    {
      name: 'time-series, 24 h by minute (1440 points)',
      path: `${d}/time-series?${last24h}&precision=1min&metrics=${all}`,
    },
    {
      name: 'time-series, 24 h by 15min, one campaign',
      path: `${d}/time-series?${last24h}&precision=15min&campaigns=transactional-0&metrics=${all}`,
    },
    {
      name: 'time-series, 31 days by hour, one campaign',
      path: `${d}/time-series?from=${minute(now - 30 * day)}&to=${minute(now)}&precision=hour&campaigns=transactional-1&metrics=${all}`,
    },
    {
      name: 'by domain, 30 days (every combination)',
      path: `${d}/domain?${month}&precision=day&metrics=${all}`,
    },
    {
      name: 'by campaign at gmail.com, 7 days, hour precision',
      path: `${d}/campaign?${week}&precision=hour&domains=gmail.com&metrics=${all}`,
    },
    { name: 'by watched domain, 30 days', path: `${d}/watched-domain?${month}&precision=day&metrics=${all}` },
    {
      name: 'bounce reasons by domain, 30 days',
      path: `${d}/bounce-reason/domain?${month}&metrics=count_bounce,count_admin_bounce`,
    },
    { name: 'delay reasons, 7 days', path: `${d}/delay-reason?${week}` },
    {
      name: 'link names of one campaign, 7 days',
      path: `${d}/link-name?${week}&campaigns=transactional-2&metrics=count_clicked,count_raw_clicked`,
    },
  ];
}

export interface Timing {
  name: string;
  p50: number;
  p99: number;
  max: number;
  rows: number;
}

/** Asks each question `warmup` + `reps` times, sequentially; the first answers are not timed. */
export async function timeQuestions(
  base: string,
  key: string,
  list: Question[],
  reps: number,
  warmup = 3,
): Promise<Timing[]> {
  const out: Timing[] = [];
  for (const question of list) {
    const samples: number[] = [];
    let rows = 0;
    for (let i = 0; i < warmup + reps; i++) {
      const start = performance.now();
      const response = await fetch(`${base}${question.path}`, { headers: { authorization: key } });
      const body = (await response.json()) as { results?: unknown[]; errors?: unknown };
      const took = performance.now() - start;
      if (response.status !== 200)
        throw new Error(`${question.name}: ${response.status} ${JSON.stringify(body)}`);
      rows = Array.isArray(body.results) ? body.results.length : 0;
      if (i >= warmup) samples.push(took);
    }
    out.push({
      name: question.name,
      p50: percentile(samples, 50),
      p99: percentile(samples, 99),
      max: Math.max(...samples),
      rows,
    });
  }
  return out;
}
