/**
 * The local admin interface: HTTP/1.1 with JSON bodies on a unix socket under data_dir (directory
 * mode 0700, socket 0600), never on a TCP port. Read operations answer one JSON document; operations
 * on many messages answer NDJSON: `{"progress":{"done":N,"total":M}}` lines as they go, then one
 * `{"result":...}` or `{"error":...}` line, so the CLI can show progress of a long operation.
 * A stale socket left by a crash is replaced; a live one (another server on this data_dir) is an error.
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../log.js';
import {
  BULK_OPERATIONS,
  type BulkOperation,
  type QueueControl,
  QueueControlError,
} from '../queue/control.js';

export interface AdminServer {
  socket: string;
  close(): Promise<void>;
}

const ID = /^[0-9a-f]{20}$/;
const DOMAIN = /^[a-z0-9.[\]:-]{1,255}$/i;

interface BulkBody {
  ids?: unknown;
  /** Every message (ALL), narrowed by domain and older_than when given. */
  all?: unknown;
  domain?: unknown;
  /** Milliseconds since arrival. */
  older_than?: unknown;
  id?: unknown;
}

export async function startAdminServer(
  socket: string,
  control: QueueControl,
  log: Logger,
): Promise<AdminServer> {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });

  app.get('/v1/queue/summary', async () => ({ domains: control.summary() }));

  app.get('/v1/queue/messages', async (request: FastifyRequest<{ Querystring: Record<string, string> }>) => {
    const { domain, limit } = request.query;
    const max = limit === undefined ? undefined : Number(limit);
    if (max !== undefined && (!Number.isInteger(max) || max < 1))
      throw new QueueControlError('bad-request', 'limit must be a positive integer');
    return await control.list({ domain: domain?.toLowerCase(), limit: max });
  });

  app.get('/v1/queue/messages/:id', async (request: FastifyRequest<{ Params: { id: string } }>) =>
    control.show(checkId(request.params.id)),
  );

  app.post('/v1/queue/flush', async (request: FastifyRequest<{ Body: BulkBody | undefined }>, reply) => {
    const body = request.body ?? {};
    const id = body.id === undefined ? undefined : checkId(body.id);
    const domain = body.domain === undefined ? undefined : checkDomain(body.domain);
    await streamed(reply, async (progress) => ({ flushed: await control.flush({ id, domain }, progress) }));
  });

  app.post(
    '/v1/queue/:operation',
    async (request: FastifyRequest<{ Params: { operation: string }; Body: BulkBody | undefined }>, reply) => {
      const operation = request.params.operation as BulkOperation;
      if (!BULK_OPERATIONS.includes(operation))
        throw new QueueControlError('not-found', `no operation ${request.params.operation}`);
      const body = request.body ?? {};
      const ids = targets(operation, body, control);
      await streamed(reply, (progress) => control.each(ids, (id) => control[operation](id), progress));
    },
  );

  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    const status =
      error instanceof QueueControlError
        ? { 'not-found': 404, busy: 409, 'bad-request': 400 }[error.code]
        : (error.statusCode ?? 500);
    if (status >= 500) log.error({ err: error }, 'admin request failed');
    reply.code(status).send({ error: error.message });
  });

  await prepareSocket(socket);
  await app.listen({ path: socket });
  await chmod(socket, 0o600);
  return { socket, close: () => app.close() };
}

function checkId(value: unknown): string {
  if (typeof value !== 'string' || !ID.test(value))
    throw new QueueControlError('bad-request', 'a message id is 20 hexadecimal characters');
  return value;
}

function checkDomain(value: unknown): string {
  if (typeof value !== 'string' || !DOMAIN.test(value))
    throw new QueueControlError('bad-request', 'not a domain');
  return value.toLowerCase();
}

/**
 * The messages a bulk operation names: `ids`; or a selection: `all`, `domain` (every message with a
 * recipient there), `older_than` (ms since arrival), the last two narrowing each other.
 */
function targets(operation: BulkOperation, body: BulkBody, control: QueueControl): string[] {
  const selecting = body.all !== undefined || body.domain !== undefined || body.older_than !== undefined;
  if (selecting) {
    if (body.ids !== undefined)
      throw new QueueControlError('bad-request', 'give ids, or all/domain/older_than, not both');
    if (body.all !== undefined && body.all !== true)
      throw new QueueControlError('bad-request', 'all must be true');
    const domain = body.domain === undefined ? undefined : checkDomain(body.domain);
    const olderThanMs = body.older_than === undefined ? undefined : checkAge(body.older_than);
    return control.select(operation, { domain, olderThanMs });
  }
  if (!Array.isArray(body.ids) || body.ids.length === 0)
    throw new QueueControlError(
      'bad-request',
      'ids (a non-empty list), all, domain or older_than is required',
    );
  if (body.ids.length > 1_000_000) throw new QueueControlError('bad-request', 'too many ids');
  return body.ids.map(checkId);
}

function checkAge(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new QueueControlError('bad-request', 'older_than is a number of milliseconds');
  return value;
}

/** Answers NDJSON: progress lines while `work` runs, then its result (or its error). */
async function streamed(
  reply: FastifyReply,
  work: (progress: (done: number, total: number) => void) => unknown,
): Promise<void> {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { 'content-type': 'application/x-ndjson' });
  const line = (value: unknown) => raw.write(`${JSON.stringify(value)}\n`);
  try {
    const result = await work((done, total) => line({ progress: { done, total } }));
    line({ result });
  } catch (error) {
    line({ error: (error as Error).message });
  }
  raw.end();
}

async function prepareSocket(socket: string): Promise<void> {
  // Created 0700 when missing; an existing directory the operator chose is left as it is.
  await mkdir(path.dirname(socket), { recursive: true, mode: 0o700 });
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socket);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`${socket} is in use: is another sluice serve running on this data_dir?`);
  await rm(socket, { force: true });
}
