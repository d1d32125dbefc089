/**
 * One message: while it is queued here, its envelope, recipients with their state and next try,
 * its header section as a person reads it, and the actions; whether queued or not, its events.
 */
import type { MessageView, TraceView } from '../../../../src/http/console/shapes.js';
import { QueueActions } from '../actions.js';
import { get, query } from '../api.js';
import { Empty, Problem, Scroll, StateBadge } from '../components.js';
import { ago, bytes, dateTime, until } from '../format.js';
import { useLoad } from '../hooks.js';
import { useCanAct } from '../session.js';
import { Timeline } from '../timeline.js';

const QUEUE_ID = /^[0-9a-f]{20}$/;

export function Message({ id }: { id: string }) {
  const canAct = useCanAct();
  const queued = useLoad(
    () => (QUEUE_ID.test(id) ? get<MessageView>(`/queue/messages/${id}`) : Promise.resolve(null)),
    [id],
  );
  const trace = useLoad(() => get<TraceView>(`/trace${query({ message_id: id })}`), [id]);
  const refresh = () => {
    queued.refresh();
    trace.refresh();
  };
  const view = queued.data;
  return (
    <section>
      <p class="crumbs">
        <a href="#/queue">Queue</a> › message
      </p>
      <h2 class="mono">{id}</h2>
      {queued.status === 404 && <Empty>Not in the queue now (delivered, bounced or removed).</Empty>}
      {queued.status !== 404 && <Problem error={queued.error} status={queued.status} />}
      {view && (
        <>
          <dl class="facts" data-test="message-facts">
            <dt>Sender</dt>
            <dd>{view.message.mail_from || '<>'}</dd>
            <dt>Arrived</dt>
            <dd>
              {dateTime(view.message.arrival)} ({ago(view.message.arrival)})
            </dd>
            <dt>Size</dt>
            <dd>{bytes(view.message.size)}</dd>
            <dt>On hold</dt>
            <dd data-test="held">{view.message.held ? 'yes' : 'no'}</dd>
            <dt>Last error</dt>
            <dd>{view.message.last_error ?? '—'}</dd>
          </dl>
          {canAct && <QueueActions target={{ ids: [id] }} onDone={refresh} label="This message" />}
          <h3>Recipients</h3>
          <Scroll>
            <table>
              <thead>
                <tr>
                  <th>Recipient</th>
                  <th>State</th>
                  <th class="num">Attempts</th>
                  <th>Next try</th>
                </tr>
              </thead>
              <tbody>
                {view.message.recipients.map((r) => (
                  <tr key={r.rcpt}>
                    <td>{r.rcpt}</td>
                    <td>
                      <StateBadge state={r.state} />
                    </td>
                    <td class="num">{r.attempts}</td>
                    <td>{r.due ? until(r.due) : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Scroll>
          <h3>Headers</h3>
          {view.headers ? (
            <Scroll>
              <table class="headers" data-test="headers">
                <tbody>
                  {/* Fields repeat (Received) and keep their order: the position is their identity. */}
                  {view.headers.fields.map((field, i) => (
                    <tr key={i}>
                      <th>{field.name}</th>
                      <td>{field.value}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {view.headers.truncated && <p class="hint">The header section is longer than what is shown.</p>}
            </Scroll>
          ) : (
            <Empty>The spool file could not be read.</Empty>
          )}
        </>
      )}
      <h3>Events</h3>
      <Problem error={trace.error} status={trace.status} />
      {trace.data && trace.data.events.length === 0 && <Empty>No events recorded for this message.</Empty>}
      {trace.data && trace.data.events.length > 0 && <Timeline events={trace.data.events} />}
    </section>
  );
}
