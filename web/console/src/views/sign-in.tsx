/** The sign-in form: an API key holding console/view or console/manage; the server sets the cookie. */
import { useState } from 'preact/hooks';
import type { SessionView } from '../../../../src/http/console/shapes.js';
import { post } from '../api.js';
import { Problem } from '../components.js';

export function SignIn({ onSignedIn }: { onSignedIn: (session: SessionView) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const session = await post<SessionView>('/session', { key: key.trim() });
      setKey('');
      onSignedIn(session);
    } catch (failure) {
      setError((failure as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>Sluice console</h1>
      <form onSubmit={submit}>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
          required
        />
        <p class="hint">
          A key with the <code>console/view</code> grant reads; <code>console/manage</code> also acts. Create
          one with <code>sluice keys create --grant console/view</code>.
        </p>
        <button type="submit" disabled={busy || key.trim() === ''}>
          Sign in
        </button>
        <Problem error={error} />
      </form>
    </main>
  );
}
