/**
 * Bounces and delays by bounce class and reason, per domain, over time (the last day by default).
 * Drawn from the Metrics API's rollups: until this build has them the server answers 501.
 */
import { useMemo } from 'preact/hooks';
import type { BouncesView } from '../../../../src/http/console/shapes.js';
import { get } from '../api.js';
import { Chart } from '../chart.js';
import { Empty, MetricsMissing, Problem, Scroll } from '../components.js';
import { count } from '../format.js';
import { useLoad } from '../hooks.js';

const COLORS = ['#e03131', '#f59f00', '#4c6ef5', '#2f9e44', '#9c36b5', '#1098ad', '#868e96'];

export function Bounces() {
  const bounces = useLoad(() => get<BouncesView>('/bounces'), [], 60_000);
  return (
    <section>
      <h2>Bounces and delays</h2>
      {bounces.status === 501 ? (
        <MetricsMissing what="Bounces and delays by class, reason and domain" detail={bounces.error} />
      ) : (
        <Problem error={bounces.error} status={bounces.status} />
      )}
      {bounces.data && <BounceTables view={bounces.data} />}
    </section>
  );
}

function BounceTables({ view }: { view: BouncesView }) {
  const chart = useMemo(() => {
    const times = [...new Set(view.series.map((p) => p.ts))].sort();
    const classes = [...new Set(view.series.map((p) => p.bounce_class))].sort();
    return {
      times: times.map((t) => Date.parse(t) / 1000),
      series: classes.map((c, i) => ({
        label: `class ${c}`,
        color: COLORS[i % COLORS.length]!,
        values: times.map((t) => {
          const point = view.series.find((p) => p.ts === t && p.bounce_class === c);
          return point ? point.bounces + point.delays : 0;
        }),
      })),
    };
  }, [view]);
  if (view.rows.length === 0) return <Empty>No bounces or delays in this period.</Empty>;
  return (
    <>
      <Chart times={chart.times} series={chart.series} />
      <Scroll>
        <table>
          <thead>
            <tr>
              <th>Domain</th>
              <th>Class</th>
              <th>Reason</th>
              <th class="num">Bounces</th>
              <th class="num">Delays</th>
            </tr>
          </thead>
          <tbody>
            {view.rows.map((row) => (
              <tr key={`${row.domain} ${row.bounce_class} ${row.reason}`}>
                <td>{row.domain}</td>
                <td>{row.bounce_class}</td>
                <td class="reply">{row.reason}</td>
                <td class="num">{count(row.bounces)}</td>
                <td class="num">{count(row.delays)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Scroll>
    </>
  );
}
