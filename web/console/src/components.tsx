/** Small pieces every view uses: error and notice boxes, state badges, the live-refresh line. */
import type { ComponentChildren } from 'preact';
import type { DestinationStateName } from '../../../src/http/console/shapes.js';

export function Problem({ error, status }: { error: string | null; status?: number }) {
  if (!error) return null;
  return (
    <p class="problem" role="alert">
      {status ? `${status}: ` : ''}
      {error}
    </p>
  );
}

/** What a metrics-based view shows while its endpoint answers 501 (no Metrics API in this build). */
export function MetricsMissing({ what, detail }: { what: string; detail: string | null }) {
  return (
    <section class="notice metrics-missing" data-test="metrics-missing">
      <h3>{what}: not available yet</h3>
      <p>
        This view is drawn from the Metrics API's rollups, which this build of Sluice does not have yet. The
        server said: <q>{detail ?? 'not implemented'}</q>
      </p>
    </section>
  );
}

const STATE_HELP: Record<DestinationStateName, string> = {
  active: 'delivering, or due now',
  throttled: 'waiting for its shaping budget (connections or messages per minute)',
  held: 'every queued message is on hold',
  suspended: 'waiting for the next retry after failed attempts',
};

export function StateBadge({ state }: { state: DestinationStateName | string }) {
  const help = STATE_HELP[state as DestinationStateName] ?? state;
  return (
    <span class={`badge state-${state}`} title={help}>
      {state}
    </span>
  );
}

export function Live({
  at,
  everySeconds,
  loading,
}: {
  at: string | null;
  everySeconds: number;
  loading: boolean;
}) {
  return (
    <p class="live" aria-live="polite">
      <span class={loading ? 'dot busy' : 'dot'} aria-hidden="true" />
      {at ? `updated ${new Date(at).toLocaleTimeString()}` : 'loading…'} · refreshes every {everySeconds} s
    </p>
  );
}

export function Scroll({ children }: { children: ComponentChildren }) {
  return <div class="scroll">{children}</div>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}
