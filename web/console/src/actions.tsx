/**
 * Queue actions from the page: hold, release, flush and bounce, on chosen messages or a whole
 * destination, through POST /console/api/queue/actions (the same operations as `sluice queue`).
 * Bouncing asks for confirmation first: it cannot be undone.
 */
import { useState } from 'preact/hooks';
import type { QueueActionResult, QueueOperation } from '../../../src/http/console/shapes.js';
import { post } from './api.js';
import { Problem } from './components.js';

const LABELS: Record<QueueOperation, string> = {
  hold: 'Hold',
  release: 'Release',
  flush: 'Retry now',
  bounce: 'Bounce',
};

const DONE: Record<QueueOperation, string> = {
  hold: 'held',
  release: 'released',
  flush: 'made due now',
  bounce: 'bounced',
};

export function QueueActions({
  target,
  disabled,
  onDone,
  label,
}: {
  target: { ids: string[] } | { domain: string };
  disabled?: boolean;
  onDone: () => void;
  label: string;
}) {
  const [outcome, setOutcome] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (operation: QueueOperation) => {
    const what = 'domain' in target ? `every message to ${target.domain}` : `${target.ids.length} message(s)`;
    if (
      operation === 'bounce' &&
      !window.confirm(`Bounce ${what}? The senders get a bounce; this cannot be undone.`)
    )
      return;
    setBusy(true);
    setError(null);
    setOutcome(null);
    try {
      const result = await post<QueueActionResult>('/queue/actions', { operation, ...target });
      const failed =
        result.failed.length > 0 ? `; ${result.failed.length} failed: ${result.failed[0]!.error}` : '';
      setOutcome(
        `${result.done} ${operation === 'flush' ? 'job(s)' : 'message(s)'} ${DONE[operation]}${failed}`,
      );
      onDone();
    } catch (failure) {
      setError((failure as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <fieldset class="actions">
      <legend class="actions-label">{label}</legend>
      {(Object.keys(LABELS) as QueueOperation[]).map((operation) => (
        <button
          type="button"
          key={operation}
          class={operation === 'bounce' ? 'danger' : ''}
          disabled={busy || disabled}
          data-action={operation}
          onClick={() => run(operation)}
        >
          {LABELS[operation]}
        </button>
      ))}
      {outcome && (
        <output class="outcome" data-test="action-outcome">
          {outcome}
        </output>
      )}
      <Problem error={error} />
    </fieldset>
  );
}
