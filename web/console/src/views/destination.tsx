/**
 * One destination's queued messages (oldest first), refreshed with the queue: choose some and
 * hold, release, retry or bounce them, or act on the whole destination. A message id opens the
 * message (its recipients, headers and events).
 */
import { useState } from 'preact/hooks';
import type { QueueMessagesView, QueueView } from '../../../../src/http/console/shapes.js';
import { QueueActions } from '../actions.js';
import { get, query } from '../api.js';
import { Empty, Live, Problem, Scroll, StateBadge } from '../components.js';
import { ago, bytes, count, until } from '../format.js';
import { useLoad } from '../hooks.js';
import { useCanAct } from '../session.js';
import { QUEUE_POLL_MS } from './queue.js';

export function Destination({ domain }: { domain: string }) {
  const canAct = useCanAct();
  const queue = useLoad(() => get<QueueView>('/queue'), [], QUEUE_POLL_MS);
  const messages = useLoad(
    () => get<QueueMessagesView>(`/queue/messages${query({ domain, limit: 200 })}`),
    [domain],
    QUEUE_POLL_MS,
  );
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const row = queue.data?.destinations.find((d) => d.domain === domain);
  const list = messages.data?.messages ?? [];
  const refresh = () => {
    queue.refresh();
    messages.refresh();
  };
  const toggle = (id: string) => {
    const next = new Set(chosen);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setChosen(next);
  };
  const allChosen = list.length > 0 && list.every((m) => chosen.has(m.id));
  return (
    <section>
      <p class="crumbs">
        <a href="#/queue">Queue</a> › {domain}
      </p>
      <h2>{domain}</h2>
      <Live
        at={queue.data?.generated_at ?? null}
        everySeconds={QUEUE_POLL_MS / 1000}
        loading={messages.loading}
      />
      {row && (
        <dl class="facts" data-test="destination-facts">
          <dt>State</dt>
          <dd>
            <StateBadge state={row.state} />
          </dd>
          <dt>MX host set</dt>
          <dd>{row.hosts ? `${row.hosts.join(', ')}:${row.port}` : 'not routed yet'}</dd>
          <dt>Messages</dt>
          <dd>
            {count(row.messages)} ({count(row.recipients)} recipients, {count(row.held)} held)
          </dd>
          <dt>Oldest</dt>
          <dd>{ago(row.oldest)}</dd>
          <dt>Last reply</dt>
          <dd>
            {row.last_reply
              ? `${row.last_reply.text} (${row.last_reply.at ? ago(row.last_reply.at) : 'before the last restart'})`
              : '—'}
          </dd>
          <dt>Next retry</dt>
          <dd>{until(row.next_attempt)}</dd>
        </dl>
      )}
      {queue.data && !row && <Empty>Nothing is queued for {domain} now.</Empty>}
      {canAct && row && <QueueActions target={{ domain }} onDone={refresh} label="Whole destination" />}
      <Problem error={messages.error} status={messages.status} />
      {list.length > 0 && (
        <>
          {canAct && (
            <QueueActions
              target={{ ids: [...chosen] }}
              disabled={chosen.size === 0}
              onDone={() => {
                setChosen(new Set());
                refresh();
              }}
              label={`Chosen (${chosen.size})`}
            />
          )}
          <Scroll>
            <table class="messages cards-on-phone">
              <thead>
                <tr>
                  {canAct && (
                    <th>
                      <input
                        type="checkbox"
                        aria-label="choose all"
                        checked={allChosen}
                        onChange={() => setChosen(allChosen ? new Set() : new Set(list.map((m) => m.id)))}
                      />
                    </th>
                  )}
                  <th>Message</th>
                  <th>Arrived</th>
                  <th>Sender</th>
                  <th>Recipients here</th>
                  <th>State</th>
                  <th class="num">Size</th>
                  <th>Last error</th>
                </tr>
              </thead>
              <tbody>
                {list.map((m) => {
                  const here = m.recipients.filter((r) => r.domain === domain);
                  const states = [...new Set(here.map((r) => r.state))];
                  return (
                    <tr key={m.id} data-message={m.id}>
                      {canAct && (
                        <td>
                          <input
                            type="checkbox"
                            aria-label={`choose ${m.id}`}
                            checked={chosen.has(m.id)}
                            onChange={() => toggle(m.id)}
                          />
                        </td>
                      )}
                      <td data-label="Message">
                        <a href={`#/message/${m.id}`} class="mono">
                          {m.id}
                        </a>
                      </td>
                      <td data-label="Arrived">{ago(m.arrival)}</td>
                      <td data-label="Sender">{m.mail_from || '<>'}</td>
                      <td data-label="Recipients here">{here.map((r) => r.rcpt).join(', ')}</td>
                      <td data-col="state" data-label="State">
                        {m.held ? <StateBadge state="held" /> : states.join(', ')}
                        {here[0] && here[0].attempts > 0 && (
                          <div class="sub">{here[0].attempts} attempt(s)</div>
                        )}
                      </td>
                      <td class="num" data-label="Size">
                        {bytes(m.size)}
                      </td>
                      <td class="reply" data-label="Last error">
                        {m.last_error ?? '—'}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </Scroll>
          {messages.data && messages.data.total > list.length && (
            <p class="hint">
              The oldest {list.length} of {count(messages.data.total)} messages.
            </p>
          )}
        </>
      )}
    </section>
  );
}
