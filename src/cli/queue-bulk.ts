/**
 * What `sluice queue hold|release|delete|bounce|requeue` share: the targets (IDs; or ALL, every
 * queued message, as postsuper's ALL; --domain D and --older-than AGE narrow ALL, or stand for it
 * alone), the request to the running server, progress on stderr, and a report of each message
 * that could not be handled (exit 1 if any).
 */
import { parseDuration } from '../config/duration.js';
import { adminRequest, progressPrinter } from './admin-client.js';
import { type Parsed, type Run, UsageError } from './command.js';

export type BulkOperation = 'hold' | 'release' | 'delete' | 'bounce' | 'requeue';

/** The request body naming the targets, from the command line. */
export function bulkTargets(operation: BulkOperation, parsed: Parsed): Record<string, unknown> {
  const domain = parsed.values.domain as string | undefined;
  const age = parsed.values['older-than'] as string | undefined;
  const words = parsed.positionals;
  const all = words.length === 1 && words[0] === 'ALL';
  const filtered = domain !== undefined || age !== undefined;
  if (words.length > 0 && !all && filtered)
    throw new UsageError(`give IDs, or ALL/--domain/--older-than, not both`);
  if (words.length === 0 && !filtered)
    throw new UsageError(`queue ${operation} needs IDs, ALL, --domain or --older-than`);
  if (words.includes('ALL') && !all) throw new UsageError('ALL stands alone, without IDs');
  if (!all && !filtered) return { ids: words };
  const body: Record<string, unknown> = { all: true };
  if (domain !== undefined) body.domain = domain;
  if (age !== undefined) {
    const ms = parseDuration(age);
    if (ms === null)
      throw new UsageError(`--older-than: expected an age such as 30m, 12h or 2d, got "${age}"`);
    body.older_than = ms;
  }
  return body;
}

export function bulkRun(operation: BulkOperation, past: string): Run {
  return async (parsed: Parsed) => {
    const body = bulkTargets(operation, parsed);
    const result = await adminRequest<{ done: string[]; failed: Array<{ id: string; error: string }> }>(
      parsed.config(),
      'POST',
      `/v1/queue/${operation}`,
      body,
      progressPrinter(operation),
    );
    for (const id of result.done) process.stdout.write(`${id}: ${past}\n`);
    for (const failure of result.failed) process.stderr.write(`${failure.id}: ${failure.error}\n`);
    process.stdout.write(`${past}: ${result.done.length} message${result.done.length === 1 ? '' : 's'}\n`);
    return result.failed.length > 0 ? 1 : 0;
  };
}
