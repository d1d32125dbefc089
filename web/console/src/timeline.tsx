/**
 * Events as a timeline, oldest first, grouped by message: injection, delays with their reasons,
 * delivery or bounce, opens and clicks, each with what matters for its type.
 */
import type { TraceEvent } from '../../../src/http/console/shapes.js';
import { dateTime } from './format.js';

function detail(event: TraceEvent): string {
  const parts: string[] = [];
  const field = (name: string) =>
    typeof event[name] === 'string' && event[name] !== '' ? (event[name] as string) : null;
  if (event.type === 'injection') {
    const from = field('msg_from');
    const subject = field('subject');
    if (from) parts.push(`from ${from}`);
    if (subject) parts.push(`“${subject}”`);
  }
  const reason = field('raw_reason');
  if (reason) parts.push(reason);
  const mx = field('mx_hostname');
  if (mx) parts.push(`via ${mx}`);
  const bounceClass = field('bounce_class');
  if (bounceClass) parts.push(`class ${bounceClass}`);
  const retries = field('num_retries');
  if (retries && retries !== '0') parts.push(`${retries} earlier attempt(s)`);
  const link = field('target_link_name') ?? field('target_link_url');
  if (link) parts.push(`link ${link}`);
  const agent = field('user_agent');
  if (agent && (event.type === 'open' || event.type === 'initial_open' || event.type === 'click'))
    parts.push(agent);
  return parts.join(' · ');
}

export function Timeline({ events }: { events: TraceEvent[] }) {
  const byMessage = new Map<string, TraceEvent[]>();
  for (const event of events) {
    const id = event.message_id ?? '(no message id)';
    const list = byMessage.get(id);
    if (list) list.push(event);
    else byMessage.set(id, [event]);
  }
  return (
    <div class="timelines">
      {[...byMessage].map(([id, list]) => (
        <article class="timeline" key={id} data-trace-message={id}>
          <h4>
            <a href={`#/message/${encodeURIComponent(id)}`} class="mono">
              {id}
            </a>
            {typeof list[0]?.campaign_id === 'string' && list[0].campaign_id !== '' && (
              <span class="sub"> · campaign {list[0].campaign_id}</span>
            )}
          </h4>
          <ol>
            {list.map((event) => (
              <li key={event.event_id} class={`event event-${event.type}`} data-event-type={event.type}>
                <time dateTime={event.timestamp}>{dateTime(event.timestamp)}</time>
                <span class={`badge type-${event.type}`}>{event.type}</span>
                <span class="rcpt">{event.rcpt_to ?? ''}</span>
                <span class="detail">{detail(event)}</span>
              </li>
            ))}
          </ol>
        </article>
      ))}
    </div>
  );
}
