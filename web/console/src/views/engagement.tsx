/**
 * Engagement per campaign: sent, unique opens, unique clicks and the most clicked links by their
 * data-msys-linkname. Drawn from the Metrics API's rollups: until then the server answers 501.
 */
import type { EngagementView } from '../../../../src/http/console/shapes.js';
import { get } from '../api.js';
import { Empty, MetricsMissing, Problem, Scroll } from '../components.js';
import { count } from '../format.js';
import { useLoad } from '../hooks.js';

export function Engagement() {
  const engagement = useLoad(() => get<EngagementView>('/engagement'), [], 60_000);
  const view = engagement.data;
  return (
    <section>
      <h2>Engagement per campaign</h2>
      {engagement.status === 501 ? (
        <MetricsMissing what="Opens and clicks per campaign" detail={engagement.error} />
      ) : (
        <Problem error={engagement.error} status={engagement.status} />
      )}
      {view && view.campaigns.length === 0 && <Empty>No campaign sent in this period.</Empty>}
      {view && view.campaigns.length > 0 && (
        <Scroll>
          <table>
            <thead>
              <tr>
                <th>Campaign</th>
                <th class="num">Sent</th>
                <th class="num">Unique opens</th>
                <th class="num">Unique clicks</th>
                <th>Top links</th>
              </tr>
            </thead>
            <tbody>
              {view.campaigns.map((c) => (
                <tr key={c.campaign_id}>
                  <td>{c.campaign_id || '(none)'}</td>
                  <td class="num">{count(c.sent)}</td>
                  <td class="num">{count(c.unique_opens)}</td>
                  <td class="num">{count(c.unique_clicks)}</td>
                  <td>{c.top_links.map((l) => `${l.link_name} (${count(l.clicks)})`).join(', ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      )}
    </section>
  );
}
