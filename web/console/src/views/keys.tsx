/**
 * API keys: list, create with grants (the secret is shown here once and never again: only its
 * hash is stored), revoke. Revoking the key you signed in with ends this session.
 */
import { useState } from 'preact/hooks';
import type { CreatedKeyView, KeysView } from '../../../../src/http/console/shapes.js';
import { del, get, post } from '../api.js';
import { Problem, Scroll } from '../components.js';
import { ago, dateTime } from '../format.js';
import { useLoad } from '../hooks.js';
import { useCanAct } from '../session.js';

export function Keys() {
  const canAct = useCanAct();
  const keys = useLoad(() => get<KeysView>('/keys'), []);
  const [created, setCreated] = useState<CreatedKeyView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const revoke = async (id: string, label: string) => {
    if (!window.confirm(`Revoke the key “${label}” (${id})? Whatever uses it stops working at once.`)) return;
    setError(null);
    try {
      await del(`/keys/${id}`);
      keys.refresh();
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  return (
    <section>
      <h2>API keys</h2>
      {created && (
        <div class="notice secret" data-test="new-key">
          <p>
            The new key <strong>{created.key.label}</strong> is shown this once; only its hash is kept:
          </p>
          <p>
            <code class="secret-value" data-test="new-key-secret">
              {created.secret}
            </code>
          </p>
          <button type="button" class="small" onClick={() => setCreated(null)}>
            I have copied it
          </button>
        </div>
      )}
      {canAct && keys.data && (
        <CreateKey
          grants={keys.data.grants}
          onCreated={(view) => {
            setCreated(view);
            keys.refresh();
          }}
        />
      )}
      <Problem error={keys.error ?? error} status={keys.status} />
      {keys.data && (
        <Scroll>
          <table class="keys">
            <thead>
              <tr>
                <th>Label</th>
                <th>Id</th>
                <th>Starts with</th>
                <th>Grants</th>
                <th>Valid from</th>
                <th>Created</th>
                <th>Last used</th>
                {canAct && <th />}
              </tr>
            </thead>
            <tbody>
              {keys.data.keys.map((k) => (
                <tr key={k.id} data-key={k.id}>
                  <td>{k.label}</td>
                  <td class="mono">{k.id}</td>
                  <td class="mono">{k.prefix}…</td>
                  <td>{k.grants.join(', ')}</td>
                  <td>{k.valid_ips.length > 0 ? k.valid_ips.join(', ') : 'anywhere'}</td>
                  <td>{dateTime(k.created_at)}</td>
                  <td>{k.last_used_at ? ago(k.last_used_at) : 'never'}</td>
                  {canAct && (
                    <td>
                      <button type="button" class="small danger" onClick={() => revoke(k.id, k.label)}>
                        Revoke
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      )}
    </section>
  );
}

function CreateKey({ grants, onCreated }: { grants: string[]; onCreated: (view: CreatedKeyView) => void }) {
  const [label, setLabel] = useState('');
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [networks, setNetworks] = useState('');
  const [error, setError] = useState<string | null>(null);
  const toggle = (grant: string) => {
    const next = new Set(chosen);
    if (next.has(grant)) next.delete(grant);
    else next.add(grant);
    setChosen(next);
  };
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    const validIps = networks
      .split(/[\s,]+/)
      .map((n) => n.trim())
      .filter(Boolean);
    try {
      const view = await post<CreatedKeyView>('/keys', {
        label: label.trim(),
        grants: [...chosen],
        ...(validIps.length > 0 ? { valid_ips: validIps } : {}),
      });
      setLabel('');
      setChosen(new Set());
      setNetworks('');
      onCreated(view);
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  return (
    <form class="create-key" onSubmit={submit} aria-label="create a key">
      <h3>Create a key</h3>
      <label for="key-label">Label</label>
      <input
        id="key-label"
        value={label}
        onInput={(e) => setLabel((e.target as HTMLInputElement).value)}
        required
      />
      <fieldset>
        <legend>Grants</legend>
        {grants.map((grant) => (
          <label key={grant} class="check">
            <input type="checkbox" value={grant} checked={chosen.has(grant)} onChange={() => toggle(grant)} />
            {grant}
          </label>
        ))}
      </fieldset>
      <label for="key-networks">Valid from (optional: addresses or networks, comma separated)</label>
      <input
        id="key-networks"
        value={networks}
        placeholder="10.0.0.0/8, 192.0.2.7"
        onInput={(e) => setNetworks((e.target as HTMLInputElement).value)}
      />
      <button type="submit" disabled={chosen.size === 0 || label.trim() === ''}>
        Create key
      </button>
      <Problem error={error} />
    </form>
  );
}
