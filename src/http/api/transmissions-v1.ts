/**
 * POST /api/v1/transmissions (grant transmissions/modify): one message per recipient, composed
 * with substitution data, each spooled through the same intake, spool and acceptance as SMTP mail
 * (same injection events; tracking flags resolved by core's precedence and carried in the facts,
 * so delivery tracks it as it tracks SMTP mail). The answer comes only once every accepted
 * message is fsynced. A suppressed recipient (or one whose message the intake refuses) is
 * rejected alone, recorded as policy_rejection, and listed in rcpt_to_errors up to
 * ?num_rcpt_errors; the others are still sent.
 */

import { fromAddress, TransmissionComposer } from '../../core/compose.js';
import type { MessageFacts, SluiceEvent } from '../../core/events.js';
import { policyRejectionEvent } from '../../core/events.js';
import { newMessageId, transmissionIdFor } from '../../core/ids.js';
import { unmapIPv4 } from '../../core/networks.js';
import { Rejection } from '../../core/reply.js';
import type { MsysApi } from '../../core/smtpapi.js';
import { findSuppression, suppressedRejection } from '../../core/suppression.js';
import { resolveMessageOptions } from '../../core/tracking-decision.js';
import { injectWhole } from '../../queue/inject.js';
import type { SpooledMessage } from '../../queue/spool.js';
import { rfc5322Date } from '../../smtp/received.js';
import type { ApiKeyRecord, EventStore } from '../../store/types.js';
import { invalidValue } from './errors.js';
import type { ApiDeps } from './index.js';
import { type ApiRoute, route } from './route.js';
import {
  type TransmissionBody,
  type TransmissionRecipient,
  transmissionBody,
  transmissionQuery,
  transmissionResults,
} from './schemas.js';

/** Messages of one transmission spooled at once: enough to share directory fsyncs, bounded memory. */
const PARALLEL = 64;

interface RcptError {
  message: string;
  code: string;
  description: string;
}

export function transmissionRoutes(deps: ApiDeps): ApiRoute[] {
  return [
    route({
      method: 'POST',
      url: '/api/v1/transmissions',
      grant: 'transmissions/modify',
      summary: 'Send a message to each recipient (durable before the answer)',
      tag: 'Transmissions',
      body: transmissionBody,
      query: transmissionQuery,
      results: transmissionResults,
      async handler({ key, body, query, request }) {
        checkShape(body, deps.config.http.max_recipients);
        const results = await transmit(body, key, unmapIPv4(request.ip), deps);
        const limit = query.num_rcpt_errors ?? 0;
        return {
          results: {
            total_rejected_recipients: results.errors.length,
            total_accepted_recipients: results.accepted,
            id: results.id,
            ...(limit > 0 ? { rcpt_to_errors: results.errors.slice(0, limit) } : {}),
          },
        };
      },
    }),
  ];
}

function checkShape(body: TransmissionBody, maxRecipients: number): void {
  if (body.recipients.length > maxRecipients)
    throw invalidValue('recipients', `must have at most ${maxRecipients} entries`);
  const content = body.content;
  if (!('email_rfc822' in content) && content.text === undefined && content.html === undefined)
    throw invalidValue('content', 'must have html or text (or be {email_rfc822})');
  if ('email_rfc822' in content && !body.return_path && body.recipients.every((r) => !r.return_path))
    throw invalidValue('return_path', 'is required with content.email_rfc822 (no From to take it from)');
}

async function transmit(body: TransmissionBody, key: ApiKeyRecord, clientIp: string, deps: ApiDeps) {
  const now = new Date();
  const id = transmissionIdFor(newMessageId(now.getTime()));
  // The same settled precedence as SMTP (message, then key defaults, then config), so delivery
  // reads tracking, transactional and ip_pool from the spooled facts alone.
  const settled = resolveMessageOptions({ options: body.options ?? {} }, key.defaults, deps.config.tracking);
  const resolved = { ...settled.options };
  // skip_suppression is an operator's decision, not a caller's: it is never honoured over HTTP.
  delete resolved.skip_suppression;
  const transactional = resolved.transactional === true;
  const errors: RcptError[] = [];
  let accepted = 0;
  const composer = new TransmissionComposer(body.content);
  // Durable messages are queued once the whole transmission is in, so on a small machine the
  // first deliveries do not compete with spooling the rest (the caller waits for the latter).
  // Their injection events are written together too: one transaction instead of one per message.
  const ready: SpooledMessage[] = [];
  const recorded: SluiceEvent[] = [];
  const held = {
    add: (message: SpooledMessage) => ready.push(message),
    recordEvents: async (events: readonly SluiceEvent[]) => {
      recorded.push(...events);
    },
  };
  const collect: EventStore = {
    append: (event) => recorded.push(event),
    appendMany: (events) => recorded.push(...events),
    search: (filter) => deps.events.search(filter),
    page: (filter) => deps.events.page(filter),
  };

  const one = async (recipient: TransmissionRecipient) => {
    const address = typeof recipient.address === 'string' ? { email: recipient.address } : recipient.address;
    const messageId = newMessageId(now.getTime());
    const mailFrom = recipient.return_path ?? body.return_path ?? fromAddress(body.content) ?? '';
    const msys: MsysApi = {
      ...(body.campaign_id !== undefined ? { campaign_id: body.campaign_id } : {}),
      metadata: { ...body.metadata, ...recipient.metadata },
      tags: recipient.tags ?? [],
      options: resolved,
    };
    const facts = {
      message_id: messageId,
      transmission_id: id,
      msg_from: mailFrom,
      injection_time: now.toISOString(),
      recv_method: 'rest' as const,
      api_key_id: key.id,
      client_ip: clientIp,
    };
    const refuse = (rejection: Rejection) => {
      const known: MessageFacts = { ...facts, friendly_from: '', subject: '', msg_size: 0, msys };
      collect.append(policyRejectionEvent(known, address.email, rejection));
      errors.push({
        message: 'recipient rejected',
        code: String(rejection.code),
        description: `${address.email}: ${rejection.text}`,
      });
    };
    if (await findSuppression(deps.suppressions, address.email, transactional))
      return refuse(suppressedRejection(address.email));
    try {
      const bytes = await composer.compose(
        {
          email: address.email,
          name: 'name' in address ? address.name : undefined,
          headerTo: 'header_to' in address ? address.header_to : undefined,
        },
        [recipient.substitution_data, body.substitution_data],
        messageId,
      );
      const trace = Buffer.from(
        `Received: from [${clientIp}]\r\n\tby ${deps.hostname} (Sluice) with HTTP id ${messageId}\r\n\tfor <${address.email}>;\r\n\t${rfc5322Date(now)}\r\n`,
      );
      await injectWhole(
        { trace, bytes, mailFrom, rcpts: [address.email], facts, msys: (header) => ({ ...header, ...msys }) },
        { ...deps, queue: held },
      );
      accepted++;
    } catch (error) {
      if (!(error instanceof Rejection)) throw error;
      refuse(error);
    }
  };

  // Bounded parallelism: messages share directory fsyncs without holding every body at once.
  const queue = [...body.recipients];
  const workers = Array.from({ length: Math.min(PARALLEL, queue.length) }, async () => {
    for (let next = queue.shift(); next; next = queue.shift()) await one(next);
  });
  try {
    await Promise.all(workers);
  } finally {
    deps.events.appendMany(recorded);
    for (const message of ready) deps.queue.add(message);
  }
  deps.log.info(
    { transmission_id: id, key: key.id, accepted, rejected: errors.length, ip: clientIp },
    'transmission accepted',
  );
  return { id, accepted, errors };
}
