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
import { type QueueControl, QueueControlError } from '../queue/control.js';

export interface AdminServer {
  socket: string;
  close(): Promise<void>;
}

const OPERATIONS = ['hold', 'release', 'delete', 'bounce'] as const;
type Operation = (typeof OPERATIONS)[number];
const ID = /^[0-9a-f]{20}$/;
const DOMAIN = /^[a-z0-9.[\]:-]{1,255}$/i;

interface BulkBody {
  ids?: unknown;
  domain?: unknown;
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
      const operation = request.params.operation as Operation;
      if (!OPERATIONS.includes(operation))
        throw new QueueControlError('not-found', `no operation ${request.params.operation}`);
      const body = request.body ?? {};
      const ids = targets(body, control);
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

/** The messages a bulk operation names: `ids`, or every message with a recipient at `domain`. */
function targets(body: BulkBody, control: QueueControl): string[] {
  if (body.domain !== undefined) {
    if (body.ids !== undefined) throw new QueueControlError('bad-request', 'give ids or domain, not both');
    return control.idsForDomain(checkDomain(body.domain));
  }
  if (!Array.isArray(body.ids) || body.ids.length === 0)
    throw new QueueControlError('bad-request', 'ids (a non-empty list) or domain is required');
  if (body.ids.length > 1_000_000) throw new QueueControlError('bad-request', 'too many ids');
  return body.ids.map(checkId);
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
