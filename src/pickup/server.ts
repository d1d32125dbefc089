/**
 * The local submission door (`sluice sendmail` → `sluice serve`), Postfix's maildrop and pickup in
 * one step. It listens on a unix socket, `pickup.sock` in pickup.dir; the directory is mode 1733
 * (sticky, writable and searchable by everyone, listable by nobody but Sluice's user) and the
 * socket 0666, so any local user may submit, while Sluice learns who did from the kernel, not from
 * the client: the client first creates an empty file with a random name in the directory and gives
 * that name; the file's owner (lstat: a regular file, one link, empty, so neither a symlink nor a
 * hard link to someone else's file) is the submitting uid, and the file is removed.
 *
 * Wire (pickup/wire.ts has the codec): HTTP/1.1 `POST /v1/submit`, header `X-Sluice-Proof: NAME`,
 * body = one JSON line {sender, recipients, extract, full_name} + "\n" + the message. Answer: 200
 * {"id"} once the message is spooled and fsynced (the queue's acceptance, as a 250), or an error
 * status with {"error","code","enhanced"} (the SMTP reply it would have been: 4xx means try again).
 * Each message gets a Received line "by HOST (Sluice, from userid N)" and its events the uid and
 * user name (local_uid, local_user), as Postfix's pickup logs "uid=N".
 */
import { chmod, lstat, mkdir, readdir, readFile, rm, unlink } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { policyRejectionEvent } from '../core/events.js';
import { newMessageId, transmissionIdFor } from '../core/ids.js';
import { prepareLocalSubmission } from '../core/local-submission.js';
import { Rejection } from '../core/reply.js';
import { checkSuppressedAmong, smtpSuppressionOutage, suppressedRejection } from '../core/suppression.js';
import { resolveMessageOptions } from '../core/tracking-decision.js';
import type { Logger } from '../log.js';
import { type InjectDeps, injectWhole } from '../queue/inject.js';
import { rfc5322Date } from '../smtp/received.js';
import type { EventStore, SuppressionStore } from '../store/types.js';
import { decodeSubmission, PROOF_HEADER, PROOF_NAME, SUBMIT_PATH, type SubmitReply } from './wire.js';

export interface PickupDeps extends InjectDeps {
  config: Config;
  hostname: string;
  events: EventStore;
  suppressions: SuppressionStore;
  log: Logger;
}

export interface PickupServer {
  socket: string;
  close(): Promise<void>;
}

export async function startPickupServer(dir: string, deps: PickupDeps): Promise<PickupServer> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o1733);
  // Proof files left by clients that died before connecting: nobody can use them any more.
  for (const name of await readdir(dir))
    if (PROOF_NAME.test(name)) await rm(path.join(dir, name), { force: true });
  const socket = path.join(dir, 'pickup.sock');
  await refuseLiveSocket(socket);
  const log = deps.log.child({ listener: 'pickup' });
  const server = http.createServer((request, response) => {
    handle(request, dir, deps, log).then(
      (reply) => answer(response, reply),
      (error: unknown) => {
        log.error({ err: error }, 'local submission failed');
        answer(response, failure(new Rejection(451, '4.3.0', 'Local submission failed, try again later')));
      },
    );
  });
  // A client that stops sending mid-message must not hold a connection for ever.
  server.requestTimeout = 300_000;
  server.headersTimeout = 30_000;
  server.maxHeadersCount = 20;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(socket, 0o666);
  await warnIfUnreachable(dir, log);
  return {
    socket,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

async function handle(
  request: http.IncomingMessage,
  dir: string,
  deps: PickupDeps,
  log: Logger,
): Promise<SubmitReply> {
  if (request.method !== 'POST' || request.url !== SUBMIT_PATH) {
    request.resume();
    return { status: 404, body: { error: 'not found', code: 500, enhanced: '5.5.1' } };
  }
  const uid = await proveUser(String(request.headers[PROOF_HEADER] ?? ''), dir);
  if (uid === null) {
    request.resume();
    log.warn({}, 'local submission without a valid proof of its user: refused');
    return failure(new Rejection(550, '5.7.1', 'No proof of the submitting local user'));
  }
  const name = await userName(uid);
  const { pickup, smtp } = deps.config;
  if (!authorized(pickup.authorized_users, uid, name)) {
    request.resume();
    log.warn({ uid, user: name }, 'local submission by a user not in pickup.authorized_users: refused');
    return failure(new Rejection(550, '5.7.1', `User ${name ?? uid} may not submit mail`));
  }
  let body: Buffer;
  try {
    body = await readBody(request, smtp.max_message_size + 65_536);
  } catch (error) {
    if (error instanceof Rejection) return failure(error);
    throw error;
  }
  const decoded = decodeSubmission(body);
  if (!decoded.ok) {
    log.warn({ uid, reason: decoded.reason }, 'malformed local submission: refused');
    return failure(new Rejection(501, '5.5.4', decoded.reason));
  }
  try {
    const id = await submit(decoded.envelope, decoded.message, uid, name, deps, log);
    return { status: 200, body: { id } };
  } catch (error) {
    if (!(error instanceof Rejection)) throw error;
    log.info({ uid, user: name, reply: error.toString() }, 'local submission refused');
    return failure(error);
  }
}

async function submit(
  envelope: Parameters<typeof prepareLocalSubmission>[1],
  raw: Buffer,
  uid: number,
  name: string | null,
  deps: PickupDeps,
  log: Logger,
): Promise<string> {
  const now = new Date();
  const id = newMessageId(now.getTime());
  const { config } = deps;
  const prepared = prepareLocalSubmission(raw, envelope, name ?? String(uid), deps.hostname, now);
  const facts = {
    message_id: id,
    transmission_id: transmissionIdFor(id),
    msg_from: prepared.mailFrom,
    injection_time: now.toISOString(),
    recv_method: 'local' as const,
    api_key_id: null,
    client_ip: '127.0.0.1',
    local_user: { uid, name },
  };
  const outage = smtpSuppressionOutage(config.store.smtp_unavailable);
  const trace = Buffer.from(
    `Received: by ${deps.hostname} (Sluice, from userid ${uid})\r\n\tid ${id}; ${rfc5322Date(now)}\r\n`,
  );
  let rcpts = prepared.rcpts;
  const accepted = await injectWhole(
    {
      trace,
      bytes: prepared.message,
      mailFrom: prepared.mailFrom,
      rcpts,
      facts,
      msys: (fromHeader) => resolveMessageOptions(fromHeader, undefined, config.tracking),
      // Suppressed recipients are dropped (each a policy_rejection) once X-MSYS-API has said
      // whether the message is transactional; none left: the message is refused.
      acceptRcpts: async (known) => {
        const transactional = known.msys.options?.transactional === true;
        const suppressed = await checkSuppressedAmong(deps.suppressions, rcpts, transactional, outage);
        for (const rcpt of suppressed)
          deps.events.append(policyRejectionEvent(known, rcpt, suppressedRejection(rcpt)));
        if (suppressed.length === rcpts.length) throw suppressedRejection(suppressed[0]!);
        rcpts = rcpts.filter((rcpt) => !suppressed.includes(rcpt));
        return rcpts;
      },
    },
    deps,
  );
  log.info(
    {
      message_id: id,
      uid,
      user: name,
      from: prepared.mailFrom,
      rcpts: rcpts.length,
      size: accepted.msg_size,
    },
    'accepted',
  );
  return id;
}

/** The uid that owns the proof file `name` in `dir`, which is then removed; null if it is no proof. */
async function proveUser(name: string, dir: string): Promise<number | null> {
  if (!PROOF_NAME.test(name)) return null;
  const file = path.join(dir, name);
  try {
    const stat = await lstat(file);
    await unlink(file);
    if (!stat.isFile() || stat.nlink !== 1 || stat.size !== 0) return null;
    return stat.uid;
  } catch {
    return null;
  }
}

async function userName(uid: number): Promise<string | null> {
  try {
    for (const line of (await readFile('/etc/passwd', 'utf8')).split('\n')) {
      const fields = line.split(':');
      if (fields.length >= 3 && Number(fields[2]) === uid && fields[0]) return fields[0];
    }
  } catch {
    // No passwd file (a container): the uid alone names the user.
  }
  return null;
}

function authorized(allowed: readonly string[], uid: number, name: string | null): boolean {
  return allowed.some((entry) => entry === '*' || entry === String(uid) || (name !== null && entry === name));
}

function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      if (!over) chunks.push(chunk);
    });
    request.on('end', () =>
      over
        ? reject(new Rejection(552, '5.3.4', `Message size exceeds fixed limit of ${limit - 65_536} bytes`))
        : resolve(Buffer.concat(chunks)),
    );
    request.on('aborted', () => reject(new Rejection(451, '4.3.0', 'The client went away mid-message')));
    request.on('error', reject);
  });
}

function failure(rejection: Rejection): SubmitReply {
  const status = rejection.code >= 500 ? (rejection.code === 552 ? 413 : 400) : 503;
  return { status, body: { error: rejection.text, code: rejection.code, enhanced: rejection.enhanced } };
}

function answer(response: http.ServerResponse, reply: SubmitReply): void {
  if (response.writableEnded) return;
  const payload = JSON.stringify(reply.body);
  response.writeHead(reply.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  response.end(payload);
}

async function refuseLiveSocket(socket: string): Promise<void> {
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socket);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`${socket} is in use: is another sluice serve running with this pickup.dir?`);
  await rm(socket, { force: true });
}

/** Says so when a directory above pickup.dir keeps other users out (data_dir is often 0700). */
async function warnIfUnreachable(dir: string, log: Logger): Promise<void> {
  for (let current = path.dirname(dir); ; current = path.dirname(current)) {
    const stat = await lstat(current).catch(() => null);
    if (stat && (stat.mode & 0o001) === 0) {
      log.warn(
        { dir, blocked_by: current },
        'local users other than this one cannot reach pickup.dir: sluice sendmail works for this user only (chmod o+x the directory, or move pickup.dir)',
      );
      return;
    }
    if (path.dirname(current) === current) return;
  }
}
