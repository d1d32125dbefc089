/** Webhooks with their backlog (stored batches not yet accepted), last batch and failures in a row. */
import type { WebhooksView } from '../../../../src/http/console/shapes.js';
import { get } from '../api.js';
import { Empty, Problem, Scroll } from '../components.js';
import { ago, count } from '../format.js';
import { useLoad } from '../hooks.js';

export function Webhooks() {
  const webhooks = useLoad(() => get<WebhooksView>('/webhooks'), [], 15_000);
  const list = webhooks.data?.webhooks ?? [];
  return (
    <section>
      <h2>Webhooks</h2>
      <Problem error={webhooks.error} status={webhooks.status} />
      {webhooks.data && list.length === 0 && (
        <Empty>No webhooks. Create them with the API (POST /api/v1/webhooks).</Empty>
      )}
      {list.length > 0 && (
        <Scroll>
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Target</th>
                <th>Events</th>
                <th>Active</th>
                <th class="num">Backlog</th>
                <th>Last batch</th>
                <th class="num">Failures in a row</th>
              </tr>
            </thead>
            <tbody>
              {list.map((w) => (
                <tr key={w.id} data-webhook={w.id}>
                  <td>{w.name}</td>
                  <td class="mono">{w.target}</td>
                  <td>{w.events.length > 0 ? w.events.join(', ') : 'all'}</td>
                  <td>{w.active ? 'yes' : 'no'}</td>
                  <td class="num" data-col="backlog">
                    {count(w.backlog)}
                  </td>
                  <td data-col="last-batch">
                    {w.last_batch ? (
                      <>
                        {w.last_batch.ok ? 'accepted' : `refused: ${w.last_batch.detail}`}
                        <div class="sub">
                          {ago(w.last_batch.at)} · attempt {w.last_batch.attempts}
                        </div>
                      </>
                    ) : (
                      'none since this process started'
                    )}
                  </td>
                  <td class="num" data-col="failures">
                    {w.failures}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      )}
    </section>
  );
}
