/**
 * The suppression list: search (substring of the address), page through, add an address (for
 * one type or both) and remove one. Changes go through the same core functions as the API.
 */
import { useState } from 'preact/hooks';
import type { SuppressionsView } from '../../../../src/http/console/shapes.js';
import { del, get, post, query } from '../api.js';
import { Empty, Problem, Scroll } from '../components.js';
import { dateTime } from '../format.js';
import { useLoad } from '../hooks.js';
import { useCanAct } from '../session.js';

export function Suppressions() {
  const canAct = useCanAct();
  const [search, setSearch] = useState('');
  const [asked, setAsked] = useState('');
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const list = useLoad(
    () => get<SuppressionsView>(`/suppressions${query({ search: asked, cursor })}`),
    [asked, cursor],
  );
  const [error, setError] = useState<string | null>(null);
  const remove = async (recipient: string, type: string) => {
    setError(null);
    try {
      await del(`/suppressions/${encodeURIComponent(recipient)}${query({ type })}`);
      list.refresh();
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  return (
    <section>
      <h2>Suppressions</h2>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          setCursors([]);
          setAsked(search.trim());
        }}
      >
        <label for="suppression-search">Search</label>
        <input
          id="suppression-search"
          value={search}
          placeholder="part of an address"
          onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
        />
        <button type="submit">Search</button>
      </form>
      {canAct && <AddSuppression onAdded={list.refresh} />}
      <Problem error={list.error ?? error} status={list.status} />
      {list.data && list.data.results.length === 0 && (
        <Empty>No entries{asked ? ` matching “${asked}”` : ''}.</Empty>
      )}
      {list.data && list.data.results.length > 0 && (
        <Scroll>
          <table class="suppressions">
            <thead>
              <tr>
                <th>Recipient</th>
                <th>Type</th>
                <th>Source</th>
                <th>Description</th>
                <th>Updated</th>
                {canAct && <th />}
              </tr>
            </thead>
            <tbody>
              {list.data.results.map((s) => (
                <tr key={`${s.recipient} ${s.type}`} data-recipient={s.recipient} data-type={s.type}>
                  <td>{s.recipient}</td>
                  <td>{s.type === 'transactional' ? 'transactional' : 'non-transactional'}</td>
                  <td>{s.source}</td>
                  <td>{s.description}</td>
                  <td>{dateTime(s.updated)}</td>
                  {canAct && (
                    <td>
                      <button type="button" class="small" onClick={() => remove(s.recipient, s.type)}>
                        Remove
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      )}
      <p class="pager">
        {cursors.length > 0 && (
          <button type="button" class="small" onClick={() => setCursors(cursors.slice(0, -1))}>
            Previous
          </button>
        )}
        {list.data?.next && (
          <button type="button" class="small" onClick={() => setCursors([...cursors, list.data!.next!])}>
            Next
          </button>
        )}
      </p>
    </section>
  );
}

function AddSuppression({ onAdded }: { onAdded: () => void }) {
  const [recipient, setRecipient] = useState('');
  const [type, setType] = useState('');
  const [description, setDescription] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    setDone(null);
    try {
      await post('/suppressions', {
        recipient: recipient.trim(),
        ...(type ? { type } : {}),
        ...(description.trim() ? { description: description.trim() } : {}),
      });
      setDone(`${recipient.trim()} added`);
      setRecipient('');
      setDescription('');
      onAdded();
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  return (
    <form class="inline add" onSubmit={submit} aria-label="add a suppression">
      <label for="suppression-recipient">Add</label>
      <input
        id="suppression-recipient"
        type="email"
        placeholder="address@example.com"
        value={recipient}
        onInput={(e) => setRecipient((e.target as HTMLInputElement).value)}
        required
      />
      <select aria-label="type" value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
        <option value="">both types</option>
        <option value="transactional">transactional</option>
        <option value="non_transactional">non-transactional</option>
      </select>
      <input
        aria-label="description"
        placeholder="why (optional)"
        value={description}
        onInput={(e) => setDescription((e.target as HTMLInputElement).value)}
      />
      <button type="submit">Add</button>
      {done && <output class="outcome">{done}</output>}
      <Problem error={error} />
    </form>
  );
}
