/**
 * The console page: asks the server for the current session on load (the cookie is HttpOnly, so
 * only the server knows), shows the sign-in form without one, else the navigation and the view
 * the address names (#/queue, #/queue/DOMAIN, #/message/ID, #/trace?..., ...).
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { SessionView } from '../../../src/http/console/shapes.js';
import { ApiFailure, del, get, setApiSession } from './api.js';
import { SessionContext } from './session.js';
import { Bounces } from './views/bounces.js';
import { Destination } from './views/destination.js';
import { Engagement } from './views/engagement.js';
import { Keys } from './views/keys.js';
import { Message } from './views/message.js';
import { Overview } from './views/overview.js';
import { Queue } from './views/queue.js';
import { SignIn } from './views/sign-in.js';
import { Suppressions } from './views/suppressions.js';
import { Trace } from './views/trace.js';
import { Webhooks } from './views/webhooks.js';

const NAV = [
  { path: 'overview', label: 'Overview' },
  { path: 'queue', label: 'Queue' },
  { path: 'trace', label: 'Trace' },
  { path: 'bounces', label: 'Bounces' },
  { path: 'engagement', label: 'Engagement' },
  { path: 'suppressions', label: 'Suppressions' },
  { path: 'keys', label: 'API keys' },
  { path: 'webhooks', label: 'Webhooks' },
] as const;

interface Place {
  parts: string[];
  params: URLSearchParams;
}

function place(): Place {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [path = '', search = ''] = hash.split('?', 2);
  return {
    parts: path.split('/').filter(Boolean).map(decodeURIComponent),
    params: new URLSearchParams(search),
  };
}

function View({ at }: { at: Place }) {
  const [first = 'overview', second] = at.parts;
  switch (first) {
    case 'queue':
      return second ? <Destination domain={second} /> : <Queue />;
    case 'message':
      return second ? <Message id={second} /> : <Queue />;
    case 'trace':
      return <Trace params={at.params} />;
    case 'bounces':
      return <Bounces />;
    case 'engagement':
      return <Engagement />;
    case 'suppressions':
      return <Suppressions />;
    case 'keys':
      return <Keys />;
    case 'webhooks':
      return <Webhooks />;
    default:
      return <Overview />;
  }
}

export function App() {
  const [session, setSession] = useState<SessionView | null>(null);
  const [checked, setChecked] = useState(false);
  const [at, setAt] = useState(place);
  const signedOut = useCallback(() => setSession(null), []);
  setApiSession(session, signedOut);
  useEffect(() => {
    get<SessionView>('/session')
      .then(setSession, (error: unknown) => {
        if (!(error instanceof ApiFailure && error.status === 401)) console.error(error);
      })
      .finally(() => setChecked(true));
    const moved = () => setAt(place());
    window.addEventListener('hashchange', moved);
    return () => window.removeEventListener('hashchange', moved);
  }, []);
  if (!checked) return <p class="empty">Loading…</p>;
  if (!session) return <SignIn onSignedIn={setSession} />;
  const current = at.parts[0] === 'message' ? 'queue' : (at.parts[0] ?? 'overview');
  const signOut = async () => {
    await del('/session').catch(() => {});
    setSession(null);
  };
  return (
    <SessionContext.Provider value={session}>
      <header class="top">
        <a href="#/overview" class="brand">
          Sluice
        </a>
        <nav aria-label="views">
          {NAV.map((item) => (
            <a
              key={item.path}
              href={`#/${item.path}`}
              class={current === item.path ? 'current' : ''}
              aria-current={current === item.path ? 'page' : undefined}
            >
              {item.label}
            </a>
          ))}
        </nav>
        <div class="who">
          <span title={`key ${session.key_id}`} data-test="signed-in-as">
            {session.label} ({session.access === 'manage' ? 'manage' : 'read only'})
          </span>
          <button type="button" class="small" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main>
        <View at={at} />
      </main>
    </SessionContext.Provider>
  );
}
