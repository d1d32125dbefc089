/**
 * DATA for the SMTP door: streams the message through core's MessageIntake into a spool writer,
 * then hands it to acceptMessage. The client gets 250 only after the spool commit; any refusal
 * is answered after the whole message was read, as SMTP requires, and the partial file removed.
 * A message relayed by a trusted upstream MTA (unauthenticated, from relay.networks: stage 1
 * behind a Postfix or Sendmail running `sluice milter`) that carries an X-Sluice-Message-ID whose
 * signature verifies (core/upstream-id.ts) keeps that id as its message id, in the 250 reply, the
 * Received line, events and logs; it is spooled under a fresh queue id, recorded beside it
 * (`queue_id`). The milter already recorded its injection (with the X-MSYS-API values it removed)
 * and tracked its body, so here it gets neither again, only its delivery events under that id;
 * with a shared store those carry the campaign, tags, metadata and key the milter recorded
 * (upstream.ts). Any other X-Sluice-Message-ID is removed, with a warning in the log.
 */
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Config } from '../config/schema.js';
import { type MessageFacts, policyRejectionEvent } from '../core/events.js';
import { newMessageId, transmissionIdFor } from '../core/ids.js';
import { MessageIntake } from '../core/intake.js';
import type { RelayPolicy } from '../core/relay-policy.js';
import { Rejection } from '../core/reply.js';
import { checkSuppressedAmong, smtpSuppressionOutage, suppressedRejection } from '../core/suppression.js';
import { resolveMessageOptions } from '../core/tracking-decision.js';
import type { UpstreamIdSigner } from '../core/upstream-id.js';
import type { Logger } from '../log.js';
import { acceptMessage } from '../queue/accept.js';
import type { QueueManager } from '../queue/manager.js';
import type { Spool, SpoolWriter } from '../queue/spool.js';
import type { EventStore, KeyDefaults, SuppressionStore } from '../store/types.js';
import { asRejection } from './enhanced-replies.js';
import { receivedHeader } from './received.js';
import { upstreamInjection } from './upstream.js';

export interface DataDeps {
  config: Config;
  hostname: string;
  spool: Spool;
  queue: QueueManager;
  events: EventStore;
  log: Logger;
  relay: Pick<RelayPolicy, 'isTrusted'>;
  /** When given, recipients are checked again once X-MSYS-API has said whether the mail is transactional. */
  suppressions?: SuppressionStore;
  /** Verifies an upstream milter's X-Sluice-Message-Signature. */
  idSigner: Pick<UpstreamIdSigner, 'verify'>;
}

export interface SessionUser {
  keyId: string;
  /** The key's message defaults, read at AUTH. */
  defaults: KeyDefaults;
}

/** Receives one message; resolves to the id it was queued under, or rejects with a Rejection. */
export async function receiveData(stream: SMTPServerDataStream, session: SMTPServerSession, deps: DataDeps) {
  const now = new Date();
  const id = newMessageId(now.getTime());
  const rcpts = session.envelope.rcptTo.map((r) => r.address);
  const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
  const user = session.user as SessionUser | undefined;
  // The Received line names the message's id: the upstream one when it is believed.
  const trace = (upstreamId: string | null) =>
    receivedHeader({
      helo: session.hostNameAppearsAs,
      clientIp: session.remoteAddress,
      hostname: deps.hostname,
      secure: session.secure,
      authenticated: Boolean(user),
      esmtp: session.transmissionType !== 'SMTP',
      id: upstreamId ?? id,
      rcpts,
      now,
    });
  const { smtp } = deps.config;
  const intake = new MessageIntake(
    { maxHeaderSize: smtp.max_header_size, maxLineLength: smtp.max_line_length },
    trace,
    { trusted: !user && deps.relay.isTrusted(session.remoteAddress), verifier: deps.idSigner },
  );
  let writer: SpoolWriter | null = null;
  let refusal: Rejection | null = null;
  /** What is known of the message before (or without) its header: enough for a refusal's events. */
  const known = (): MessageFacts => ({
    message_id: id,
    transmission_id: transmissionIdFor(id),
    msg_from: mailFrom,
    friendly_from: '',
    subject: '',
    msg_size: stream.byteLength ?? 0,
    injection_time: now.toISOString(),
    recv_method: 'esmtp',
    api_key_id: user?.keyId ?? null,
    client_ip: session.remoteAddress,
    msys: {},
  });
  try {
    writer = await deps.spool.createWriter(id);
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (refusal) continue; // keep reading: the reply may only follow the end of DATA
      try {
        for (const piece of intake.push(chunk)) await writer.write(piece);
      } catch (error) {
        refusal = asRejection(error);
      }
    }
    if (stream.sizeExceeded) {
      refusal = new Rejection(
        552,
        '5.3.4',
        `Message size exceeds fixed limit of ${smtp.max_message_size} bytes`,
      );
    }
    if (refusal) throw refusal;
    const { tail, result } = intake.end();
    for (const piece of tail) await writer.write(piece);
    if (result.upstreamRefused)
      deps.log.warn(
        {
          message_id: id,
          session_id: session.id,
          ip: session.remoteAddress,
          reason: result.upstreamRefused,
        },
        'X-Sluice-Message-ID not believed: removed, the message gets its own id',
      );
    const upstream = result.upstreamId !== null;
    const messageId = upstream ? result.upstreamId! : id;
    // What the milter recorded for it (campaign, tags, metadata, key), when the store is shared.
    const origin = upstream ? await upstreamInjection(deps.events, messageId, deps.log) : null;
    const facts: MessageFacts = {
      ...known(),
      message_id: messageId,
      ...(upstream ? { queue_id: id } : {}),
      transmission_id: transmissionIdFor(messageId),
      friendly_from: result.from,
      subject: result.subject,
      msg_size: result.size,
      ...(origin ? { api_key_id: origin.apiKeyId } : {}),
      // Tracked (or not) upstream: tracking it again would wrap its links twice.
      msys: upstream
        ? resolveMessageOptions(
            {
              ...result.msys,
              ...origin?.msys,
              options: {
                ...result.msys.options,
                ...origin?.msys.options,
                open_tracking: false,
                click_tracking: false,
              },
            },
            null,
            deps.config.tracking,
          )
        : resolveMessageOptions(result.msys, user?.defaults, deps.config.tracking),
    };
    const accepted = await dropSuppressed(rcpts, facts, user, deps);
    const envelope = {
      v: 1 as const,
      mail_from: mailFrom,
      rcpts: accepted,
      facts,
      ...(upstream ? { upstream } : {}),
    };
    await acceptMessage(writer, envelope, deps);
    deps.log.info(
      {
        message_id: messageId,
        ...(messageId !== id ? { queue_id: id } : {}),
        session_id: session.id,
        from: mailFrom,
        rcpts: rcpts.length,
        size: result.size,
        key: user?.keyId,
      },
      'accepted',
    );
    return messageId;
  } catch (error) {
    const rejection = asRejection(error);
    if (error instanceof Rejection) {
      const reply = rejection.toString();
      deps.log.info({ message_id: id, session_id: session.id, reply }, 'message refused');
      // The sender learns from the reply; whoever reads events learns from a policy_rejection.
      for (const rcpt of rcpts) deps.events.append(policyRejectionEvent(known(), rcpt, rejection));
    } else if (clientWentAway(error, stream)) {
      deps.log.info(
        { message_id: id, session_id: session.id },
        'client disconnected during DATA; message dropped',
      );
    } else {
      deps.log.error({ err: error, message_id: id }, 'failed to receive message');
    }
    if (writer) await writer.abort().catch(() => {});
    // Drain what the client still sends so the reply lands after its final dot (if it is still there).
    if (!stream.readableEnded && !stream.destroyed)
      await drain(stream).catch(() => {
        // It left after all: nobody is waiting for the reply.
      });
    throw rejection;
  }
}

/**
 * RCPT checked the suppression list with the key's default type; if the header made the message
 * the other type, recipients suppressed for that type are dropped here (each a policy_rejection),
 * and the message is refused when none is left.
 */
async function dropSuppressed(
  rcpts: string[],
  facts: MessageFacts,
  user: SessionUser | undefined,
  deps: DataDeps,
): Promise<string[]> {
  const transactional = facts.msys.options?.transactional === true;
  if (!deps.suppressions || transactional === (user?.defaults?.transactional ?? false)) return rcpts;
  const outage = smtpSuppressionOutage(deps.config.store.smtp_unavailable);
  const suppressed = await checkSuppressedAmong(deps.suppressions, rcpts, transactional, outage, (error) =>
    deps.log.debug(
      { message_id: facts.message_id, error: (error as Error).message },
      'suppression list unavailable; recipients accepted unchecked (store.smtp_unavailable: cached_keys)',
    ),
  );
  if (suppressed.length === 0) return rcpts;
  if (suppressed.length === rcpts.length) throw suppressedRejection(suppressed[0]!);
  for (const rcpt of suppressed)
    deps.events.append(policyRejectionEvent(facts, rcpt, suppressedRejection(rcpt)));
  return rcpts.filter((rcpt) => !suppressed.includes(rcpt));
}

/**
 * The client hung up mid-DATA: any client can do that at will, so it is an info line, not an error
 * with a stack. smtp-server then destroys the data stream before its end (its error says
 * ECONNECTION in this version; other versions give no code), or the socket reports a reset.
 */
function clientWentAway(error: unknown, stream: SMTPServerDataStream): boolean {
  const code = (error as { code?: string } | null)?.code;
  if (
    code === 'ECONNECTION' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE'
  )
    return true;
  return stream.destroyed && !stream.readableEnded;
}

async function drain(stream: SMTPServerDataStream): Promise<void> {
  for await (const _ of stream as AsyncIterable<Buffer>);
}
