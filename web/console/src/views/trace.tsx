/**
 * Message trace: search the events by message id (queue id or message id), recipient or campaign;
 * the search lives in the address (#/trace?recipient=...), so a trace can be linked and reloaded.
 */
import { useState } from 'preact/hooks';
import type { TraceView } from '../../../../src/http/console/shapes.js';
import { get, query } from '../api.js';
import { Empty, Problem } from '../components.js';
import { useLoad } from '../hooks.js';
import { Timeline } from '../timeline.js';

export const TRACE_FIELDS = [
  { name: 'message_id', label: 'Message id' },
  { name: 'recipient', label: 'Recipient' },
  { name: 'campaign', label: 'Campaign' },
] as const;

type Field = (typeof TRACE_FIELDS)[number]['name'];

export function Trace({ params }: { params: URLSearchParams }) {
  const asked = TRACE_FIELDS.find((f) => params.get(f.name));
  const [field, setField] = useState<Field>(asked?.name ?? 'message_id');
  const [value, setValue] = useState(asked ? (params.get(asked.name) ?? '') : '');
  const search = asked ? { [asked.name]: params.get(asked.name) ?? '' } : null;
  const trace = useLoad(
    () => (search ? get<TraceView>(`/trace${query(search)}`) : Promise.resolve(null)),
    [JSON.stringify(search)],
  );
  const submit = (event: Event) => {
    event.preventDefault();
    if (value.trim()) window.location.hash = `#/trace?${new URLSearchParams({ [field]: value.trim() })}`;
  };
  return (
    <section>
      <h2>Message trace</h2>
      <form class="inline" onSubmit={submit}>
        <label for="trace-field">Search by</label>
        <select
          id="trace-field"
          value={field}
          onChange={(e) => setField((e.target as HTMLSelectElement).value as Field)}
        >
          {TRACE_FIELDS.map((f) => (
            <option key={f.name} value={f.name}>
              {f.label}
            </option>
          ))}
        </select>
        <input
          aria-label="search for"
          name="trace-value"
          value={value}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          required
        />
        <button type="submit">Trace</button>
      </form>
      <Problem error={trace.error} status={trace.status} />
      {trace.data && trace.data.events.length === 0 && <Empty>No events match.</Empty>}
      {trace.data?.truncated && <p class="hint">Only the newest events are shown.</p>}
      {trace.data && trace.data.queued.length > 0 && (
        <p class="hint">
          Still queued:{' '}
          {trace.data.queued.map((m) => (
            <a key={m.id} href={`#/message/${m.id}`} class="mono">
              {m.id}{' '}
            </a>
          ))}
        </p>
      )}
      {trace.data && trace.data.events.length > 0 && <Timeline events={trace.data.events} />}
    </section>
  );
}
