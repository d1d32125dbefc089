/**
 * Overview: the queue depth now (polled), and the delivery counts of the last hour and day with
 * their time series and rates, which come from the Metrics API (501 until this build has it).
 */
import { useMemo } from 'preact/hooks';
import type { DeliveryCounts, OverviewView, QueueView } from '../../../../src/http/console/shapes.js';
import { get } from '../api.js';
import { Chart } from '../chart.js';
import { Live, MetricsMissing, Problem } from '../components.js';
import { count, percent } from '../format.js';
import { useLoad } from '../hooks.js';

const COUNTS: Array<{ key: keyof DeliveryCounts; label: string; color: string }> = [
  { key: 'injected', label: 'Injected', color: '#4c6ef5' },
  { key: 'delivered', label: 'Delivered', color: '#2f9e44' },
  { key: 'deferred', label: 'Deferred', color: '#f59f00' },
  { key: 'bounced', label: 'Bounced', color: '#e03131' },
  { key: 'opened', label: 'Opened', color: '#1098ad' },
  { key: 'clicked', label: 'Clicked', color: '#9c36b5' },
];

const DEPTH = ['ready', 'running', 'deferred', 'held'] as const;

export function Overview() {
  const queue = useLoad(() => get<QueueView>('/queue'), [], 5000);
  const metrics = useLoad(() => get<OverviewView>('/overview'), [], 60_000);
  const depth = queue.data?.depth;
  const total = depth ? Object.values(depth).reduce((a, b) => a + b, 0) : null;
  return (
    <section>
      <h2>Overview</h2>
      <h3>Queue now</h3>
      <Live at={queue.data?.generated_at ?? null} everySeconds={5} loading={queue.loading} />
      <Problem error={queue.error} status={queue.status} />
      <div class="cards" data-test="queue-depth">
        <div class="card">
          <span class="label">Queued</span>
          <span class="value" data-depth="total">
            {total === null ? '—' : count(total)}
          </span>
        </div>
        {DEPTH.map((state) => (
          <div class="card" key={state}>
            <span class="label">{state}</span>
            <span class="value" data-depth={state}>
              {depth ? count(depth[state] ?? 0) : '—'}
            </span>
          </div>
        ))}
      </div>
      <h3>Deliveries</h3>
      {metrics.status === 501 ? (
        <MetricsMissing what="Delivery counts, rates and their chart" detail={metrics.error} />
      ) : (
        <>
          <Problem error={metrics.error} status={metrics.status} />
          {metrics.data && <Counts view={metrics.data} />}
        </>
      )}
    </section>
  );
}

function Counts({ view }: { view: OverviewView }) {
  // The same arrays for the same answer: the chart is rebuilt only when the data changes.
  const { times, series } = useMemo(
    () => ({
      times: view.series.points.map((p) => Date.parse(p.ts) / 1000),
      series: COUNTS.map((c) => ({
        label: c.label,
        color: c.color,
        values: view.series.points.map((p) => p[c.key]),
      })),
    }),
    [view],
  );
  return (
    <>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th />
              {COUNTS.map((c) => (
                <th key={c.key}>{c.label}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {(['last_hour', 'last_day'] as const).map((period) => (
              <tr key={period}>
                <th>{period === 'last_hour' ? 'Last hour' : 'Last day'}</th>
                {COUNTS.map((c) => (
                  <td key={c.key} class="num">
                    {count(view[period][c.key])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div class="cards">
        <div class="card">
          <span class="label">Delivery rate</span>
          <span class="value">{percent(view.delivery_rate)}</span>
        </div>
        <div class="card">
          <span class="label">Bounce rate</span>
          <span class="value">{percent(view.bounce_rate)}</span>
        </div>
      </div>
      <Chart times={times} series={series} />
    </>
  );
}
