/**
 * What `sluice queue hold|release|delete|bounce` share: the targets (IDs, or --domain D for every
 * message with a recipient there), the request to the running server, progress on stderr, and a
 * report of each message that could not be handled (exit 1 if any).
 */
import { adminRequest, progressPrinter } from './admin-client.js';
import { type Parsed, type Run, UsageError } from './command.js';

export function bulkRun(operation: 'hold' | 'release' | 'delete' | 'bounce', past: string): Run {
  return async (parsed: Parsed) => {
    const domain = parsed.values.domain as string | undefined;
    const ids = parsed.positionals;
    if ((ids.length === 0) === (domain === undefined))
      throw new UsageError(`queue ${operation} needs IDs or --domain`);
    const result = await adminRequest<{ done: string[]; failed: Array<{ id: string; error: string }> }>(
      parsed.config(),
      'POST',
      `/v1/queue/${operation}`,
      domain ? { domain } : { ids },
      progressPrinter(operation),
    );
    for (const id of result.done) process.stdout.write(`${id}: ${past}\n`);
    for (const failure of result.failed) process.stderr.write(`${failure.id}: ${failure.error}\n`);
    process.stdout.write(`${past}: ${result.done.length} message${result.done.length === 1 ? '' : 's'}\n`);
    return result.failed.length > 0 ? 1 : 0;
  };
}
