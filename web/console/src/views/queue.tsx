/**
 * The queue by destination, refreshed every 5 seconds: per recipient domain its MX host set,
 * state, messages and recipients, the oldest, the last reply and when, the next retry. A row
 * opens the destination's messages (destination.tsx), where the actions are.
 */
import type { QueueView } from '../../../../src/http/console/shapes.js';
import { get } from '../api.js';
import { Empty, Live, Problem, Scroll, StateBadge } from '../components.js';
import { ago, count, until } from '../format.js';
import { useLoad } from '../hooks.js';

export const QUEUE_POLL_MS = 5000;

export function Queue() {
  const queue = useLoad(() => get<QueueView>('/queue'), [], QUEUE_POLL_MS);
  const view = queue.data;
  return (
    <section>
      <h2>Queue by destination</h2>
      <Live at={view?.generated_at ?? null} everySeconds={QUEUE_POLL_MS / 1000} loading={queue.loading} />
      <Problem error={queue.error} status={queue.status} />
      {view && view.destinations.length === 0 && <Empty>The queue is empty.</Empty>}
      {view && view.destinations.length > 0 && (
        <Scroll>
          <table class="destinations cards-on-phone">
            <thead>
              <tr>
                <th>Destination</th>
                <th>State</th>
                <th class="num">Messages</th>
                <th class="num">Recipients</th>
                <th>Oldest</th>
                <th>Last reply</th>
                <th>Next retry</th>
              </tr>
            </thead>
            <tbody>
              {view.destinations.map((d) => (
                <tr key={d.domain} data-domain={d.domain}>
                  <td data-label="Destination">
                    <a href={`#/queue/${encodeURIComponent(d.domain)}`} class="strong">
                      {d.domain}
                    </a>
                    <div class="sub" title="MX host set">
                      {d.hosts ? `${d.hosts.join(', ')}:${d.port}` : 'not routed yet'}
                    </div>
                  </td>
                  <td data-label="State">
                    <StateBadge state={d.state} />
                    {d.failures > 0 && <div class="sub">{d.failures} failed in a row</div>}
                  </td>
                  <td class="num" data-col="messages" data-label="Messages">
                    {count(d.messages)}
                    {d.held > 0 && <div class="sub">{count(d.held)} held</div>}
                  </td>
                  <td class="num" data-col="recipients" data-label="Recipients">
                    {count(d.recipients)}
                  </td>
                  <td data-label="Oldest">{ago(d.oldest)}</td>
                  <td class="reply" data-col="last-reply" data-label="Last reply">
                    {d.last_reply ? (
                      <>
                        <span>{d.last_reply.text}</span>
                        <div class="sub">
                          {d.last_reply.mx_host ? `${d.last_reply.mx_host} · ` : ''}
                          {d.last_reply.at ? ago(d.last_reply.at) : 'before the last restart'}
                        </div>
                      </>
                    ) : (
                      '—'
                    )}
                  </td>
                  <td data-label="Next retry">{d.next_attempt ? until(d.next_attempt) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      )}
      {view && view.total > view.destinations.length && (
        <p class="hint">
          The {view.destinations.length} destinations with the most messages of {count(view.total)}.
        </p>
      )}
    </section>
  );
}
