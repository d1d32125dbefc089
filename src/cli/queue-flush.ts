/** `sluice queue flush [ID | --domain D]`: deferred messages are attempted now (postqueue -f / -s / -i). */
import { adminRequest, progressPrinter } from './admin-client.js';
import { type Parsed, UsageError } from './command.js';

export async function run(parsed: Parsed): Promise<number> {
  const id = parsed.positionals[0];
  const domain = parsed.values.domain as string | undefined;
  if (parsed.positionals.length > 1 || (id && domain))
    throw new UsageError('give one ID or --domain, not both');
  const body = id ? { id } : domain ? { domain } : {};
  const { flushed } = await adminRequest<{ flushed: number }>(
    parsed.config(),
    'POST',
    '/v1/queue/flush',
    body,
    progressPrinter('scanning messages'),
  );
  process.stdout.write(`flushed ${flushed} deferred delivery job${flushed === 1 ? '' : 's'}\n`);
  return 0;
}
