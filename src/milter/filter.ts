/**
 * Sluice's milter behaviour: maps milter stages to core, with no rules of its own, so mail that
 * Postfix or Sendmail delivers gets what `sluice serve` would give it.
 * - MAIL: the identity is {auth_authen} (with `sluice auth` it is an API key id); core's
 *   PolicyService decides whether that key may inject from this client (550 5.7.1 if not, 451
 *   4.3.0 if the store fails). Mail without a key from outside relay.networks is the world
 *   writing to us, not an app: it is accepted untouched (no header processing, no events).
 * - headers: X-MSYS-API values (and their positions), Subject and From are noted.
 * - EOH: core's parseMsysApi; an invalid header gets its 550 5.6.0 naming the field.
 * - EOM: each X-MSYS-API is deleted by index (change-header with an empty value, last first),
 *   X-Sluice-Message-ID is added, and an `injection` event per recipient is recorded with the
 *   SMTP door's fields. The events are written before the MTA queues the message: a message
 *   the MTA then loses still has its injection event.
 * The tracking rewrite belongs here too, at EOM through replace-body: `trackedBody` is its seam.
 */
import { injectionEvent, type MessageFacts } from '../core/events.js';
import { newMessageId, transmissionIdFor } from '../core/ids.js';
import { addressOf, decodeMimeWords } from '../core/mime-words.js';
import { unmapIPv4 } from '../core/networks.js';
import type { PolicyService } from '../core/policy.js';
import type { RelayPolicy } from '../core/relay-policy.js';
import { Rejection } from '../core/reply.js';
import { MSYS_HEADER, type MsysApi, parseMsysApi } from '../core/smtpapi.js';
import type { EventStore } from '../store/types.js';
import { SMFIF, SMFIP } from './constants.js';
import type { MilterContext, MilterHandlers, Modification, Verdict } from './session.js';

export const MESSAGE_ID_HEADER = 'X-Sluice-Message-ID';

export interface FilterDeps {
  policy: Pick<PolicyService, 'decide'>;
  events: EventStore;
  /** Whose unauthenticated mail is an injection (relay.networks), the same rule as the SMTP door. */
  relay: RelayPolicy;
  now?: () => Date;
}

interface MessageState {
  keyId: string | null;
  sender: string;
  rcpts: string[];
  /** X-MSYS-API values in message order: the n-th is the MTA's header index n (1-based, per name). */
  msysValues: string[];
  subject: string | null;
  from: string | null;
  headerBytes: number;
  bodyBytes: number;
  msys: MsysApi;
}

const replyFor = (r: Rejection): Verdict => ({
  kind: 'replycode',
  code: r.code,
  enhanced: r.enhanced,
  lines: r.text.split(/\r?\n/).map((line) => printable(line).slice(0, 400)),
});

export class SluiceFilter implements MilterHandlers {
  readonly wants = {
    actions: SMFIF.ADDHDRS | SMFIF.CHGHDRS,
    // Replies only where a decision can be made (MAIL, EOH, EOM); HELO and unknown commands are not needed.
    protocol:
      SMFIP.NR_CONN |
      SMFIP.NOHELO |
      SMFIP.NR_RCPT |
      SMFIP.NR_DATA |
      SMFIP.NR_HDR |
      SMFIP.NR_BODY |
      SMFIP.NOUNKNOWN,
    // Postfix does not send {auth_authen} at EOM by default: it is asked for at MAIL.
    macros: { ENVFROM: ['{auth_authen}', 'i'], DATA: ['i'], EOM: ['i'] },
  };
  private message: MessageState | null = null;

  constructor(private readonly deps: FilterDeps) {}

  async mail(ctx: MilterContext, args: string[]): Promise<Verdict | undefined> {
    const keyId = ctx.macro('auth_authen') || null;
    const clientAddress = ctx.client?.address ? unmapIPv4(ctx.client.address) : null;
    const sender = unbracket(args[0] ?? '');
    this.message = null;
    if (keyId === null) {
      if (clientAddress === null || !this.deps.relay.isTrusted(clientAddress)) return { kind: 'accept' };
    } else {
      const decision = await this.deps.policy.decide({
        stage: 'other',
        transaction: null,
        keyId,
        clientAddress,
        sender,
        recipientCount: 0,
      });
      if (decision.kind === 'key-rejected') {
        ctx.log.info({ key: keyId, reason: decision.reason }, 'key may not inject: rejected at MAIL');
        return replyFor(new Rejection(550, '5.7.1', 'API key is not allowed to send mail'));
      }
      if (decision.kind === 'unavailable') {
        ctx.log.error({ err: decision.error, key: keyId }, 'key lookup failed: tempfail at MAIL');
        return replyFor(new Rejection(451, '4.3.0', 'Temporary key lookup failure, try again later'));
      }
    }
    this.message = {
      keyId,
      sender,
      rcpts: [],
      msysValues: [],
      subject: null,
      from: null,
      headerBytes: 0,
      bodyBytes: 0,
      msys: {},
    };
    return undefined;
  }

  rcpt(_ctx: MilterContext, args: string[]): undefined {
    if (this.message && args[0] !== undefined) this.message.rcpts.push(unbracket(args[0]));
    return undefined;
  }

  header(_ctx: MilterContext, name: string, value: string): undefined {
    const m = this.message;
    if (!m) return undefined;
    m.headerBytes += Buffer.byteLength(`${name}: ${value}\r\n`) + (value.match(/\n/g)?.length ?? 0);
    const lower = name.toLowerCase();
    const unfolded = value.replace(/\r?\n(?=[ \t])/g, '').trim();
    if (lower === MSYS_HEADER) m.msysValues.push(unfolded);
    else if (lower === 'subject' && m.subject === null) m.subject = decodeMimeWords(unfolded);
    else if (lower === 'from' && m.from === null) m.from = addressOf(decodeMimeWords(unfolded));
    return undefined;
  }

  eoh(ctx: MilterContext): Verdict | undefined {
    const m = this.message;
    if (!m) return undefined;
    try {
      m.msys = parseMsysApi(m.msysValues);
    } catch (error) {
      if (!(error instanceof Rejection)) throw error;
      ctx.log.info({ queue_id: ctx.queueId(), key: m.keyId, reply: error.toString() }, 'X-MSYS-API refused');
      this.message = null;
      return replyFor(error);
    }
    return undefined;
  }

  body(_ctx: MilterContext, chunk: Buffer): undefined {
    if (this.message) this.message.bodyBytes += chunk.length;
    return undefined;
  }

  async eom(ctx: MilterContext): Promise<{ modifications: Modification[]; verdict: Verdict }> {
    const m = this.message;
    this.message = null;
    if (!m) return { modifications: [], verdict: { kind: 'continue' } };
    const now = this.deps.now?.() ?? new Date();
    const id = newMessageId(now.getTime());
    const modifications: Modification[] = [];
    // Deleting the last occurrence first keeps the indexes of the others valid.
    for (let index = m.msysValues.length; index >= 1; index--)
      modifications.push({ kind: 'chgheader', index, name: 'X-MSYS-API', value: '' });
    modifications.push({ kind: 'addheader', name: MESSAGE_ID_HEADER, value: id });
    const body = trackedBody(m);
    if (body !== null) modifications.push({ kind: 'replbody', chunk: body });

    const facts: MessageFacts = {
      message_id: id,
      transmission_id: transmissionIdFor(id),
      msg_from: m.sender,
      friendly_from: m.from ?? '',
      subject: m.subject ?? '',
      // What the MTA showed us: header section plus body (the MTA's own trace header aside).
      msg_size: m.headerBytes + 2 + m.bodyBytes,
      injection_time: now.toISOString(),
      recv_method: 'esmtp',
      api_key_id: m.keyId,
      client_ip: ctx.client?.address ? unmapIPv4(ctx.client.address) : '',
      msys: m.msys,
    };
    for (const rcpt of m.rcpts) this.deps.events.append(injectionEvent(facts, rcpt, now));
    ctx.log.info(
      { message_id: id, queue_id: ctx.queueId(), key: m.keyId, rcpts: m.rcpts.length, from: m.sender },
      'injection recorded',
    );
    return { modifications, verdict: { kind: 'continue' } };
  }

  abort(): void {
    this.message = null;
  }
}

/**
 * The seam for open and click tracking (the tracking issue): the rewritten body to send with
 * replace-body, or null to leave the body alone. Not implemented: the body is never rewritten,
 * and SMFIF_CHGBODY is not asked for until it is.
 */
function trackedBody(_message: MessageState): Buffer | null {
  return null;
}

/** Reply text without control characters (a JSON error message may quote any). */
function printable(line: string): string {
  let out = '';
  for (const c of line) out += c < ' ' || c === '\x7f' ? ' ' : c;
  return out;
}

function unbracket(address: string): string {
  const trimmed = address.trim();
  return trimmed.startsWith('<') && trimmed.endsWith('>') ? trimmed.slice(1, -1) : trimmed;
}
