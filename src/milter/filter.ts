/**
 * Sluice's milter behaviour: maps milter stages to core, with no rules of its own, so mail that
 * Postfix or Sendmail delivers gets what `sluice serve` would give it.
 * - MAIL: the identity is {auth_authen} (with `sluice auth` it is an API key id); core's
 *   PolicyService decides whether that key may inject from this client (550 5.7.1 if not, 451
 *   4.3.0 if the store fails). Mail without a key from outside relay.networks is the world
 *   writing to us, not an app: milter.unauthenticated says what it gets — `pass` (default:
 *   accepted untouched, no header processing, no events), `process` (as an injection) or
 *   `reject` (550 5.7.1).
 * - headers: X-MSYS-API values (and their positions), Subject, From and the MIME fields are noted.
 *   Header bytes are counted: past maxHeaderSize the message is refused (core's 552 5.3.4, as the
 *   SMTP door answers) and nothing more of it is kept; so is a second X-MSYS-API (550 5.6.0), as
 *   soon as it arrives. Headers are negotiated without a reply, so the refusal is sent at EOM.
 * - EOH: core's parseMsysApi, then core's decideTracking (X-MSYS-API options, then the key's
 *   defaults, then tracking.open/click). EOH is negotiated without a reply (one round trip less
 *   per message): an invalid header gets its 550 5.6.0 naming the field at EOM, which the client
 *   sees at the same moment (after its final dot); the body is then neither tracked nor kept.
 * - body: with tracking on, each chunk goes through core's TrackingTransform (body-tracker.ts).
 * - EOM: each X-MSYS-API is deleted by index (change-header with an empty value, last first), so
 *   is any X-Sluice-Message-ID or X-Sluice-Message-Signature the message came with, ours are
 *   added (the signature lets a downstream Sluice believe the id: core/upstream-id.ts), the tracked body (if anything was tracked) replaces the body,
 *   and an `injection` event per recipient is recorded with the SMTP door's fields. The events
 *   are stored before the reply (a message the MTA queues always has them; one the MTA then loses
 *   still has them), through a group commit shared by the EOMs of one loop turn (store/event-group-commit.ts);
 *   the log line follows the reply, with the time the MTA waited (eom_ms).
 * A milter sees one body for all recipients, so a tracking token names the recipient only when
 * the message has exactly one; with several, the token's recipient is empty (open and click
 * events then carry the message id, not who opened).
 */
import { injectionEvent, type MessageFacts, type SluiceEvent } from '../core/events.js';
import { newMessageId, transmissionIdFor } from '../core/ids.js';
import { headerTooLarge } from '../core/intake.js';
import { addressOf, decodeMimeWords } from '../core/mime-words.js';
import { unmapIPv4 } from '../core/networks.js';
import type { PolicyService } from '../core/policy.js';
import type { RelayPolicy } from '../core/relay-policy.js';
import { Rejection } from '../core/reply.js';
import { injectionRefused } from '../core/smtp-login.js';
import { duplicateMsysApi, MSYS_HEADER, type MsysApi, parseMsysApi } from '../core/smtpapi.js';
import { decideTracking, type TrackingDefaults } from '../core/tracking-decision.js';
import { UPSTREAM_ID_HEADER, UPSTREAM_SIGNATURE_HEADER, type UpstreamIdSigner } from '../core/upstream-id.js';
import { logStoreFailure } from '../log.js';
import type { ApiKeyRecord, EventStore } from '../store/types.js';
import type { TokenSigner } from '../tracking/token.js';
import { BodyTracker, WALK_FIELDS } from './body-tracker.js';
import { SMFIF, SMFIP } from './constants.js';
import type { EomResult, MilterContext, MilterHandlers, Modification, Verdict } from './handlers.js';

export const MESSAGE_ID_HEADER = UPSTREAM_ID_HEADER;
const MESSAGE_ID_LOWER = MESSAGE_ID_HEADER.toLowerCase();
const SIGNATURE_LOWER = UPSTREAM_SIGNATURE_HEADER.toLowerCase();

export interface FilterDeps {
  policy: Pick<PolicyService, 'decide'>;
  events: EventStore;
  /**
   * Records a message's injection events and resolves once they are durable (EventGroupCommit: one
   * commit for the EOMs of a loop turn); absent, they are written at once with appendMany.
   */
  record?: (events: readonly SluiceEvent[]) => Promise<void>;
  /** Whose unauthenticated mail is an injection (relay.networks), the same rule as the SMTP door. */
  relay: RelayPolicy;
  /** What mail without a key from outside relay.networks gets (milter.unauthenticated). */
  unauthenticated?: 'pass' | 'process' | 'reject';
  /** The key record, for its tracking defaults. */
  findKey?: (id: string) => Promise<ApiKeyRecord | null>;
  /** Absent: never tracks. */
  tracking?: MilterTrackingConfig;
  /** Header bytes of one message past which it is refused (milter.max_header_size). */
  maxHeaderSize: number;
  /** Signs the id it adds, so a downstream Sluice believes it; absent: the id goes unsigned. */
  idSigner?: Pick<UpstreamIdSigner, 'sign'>;
  now?: () => Date;
}

export interface MilterTrackingConfig {
  signer: TokenSigner;
  /** Tracking server base URL, without the trailing slash. */
  baseUrl: string;
  maxPartSize: number;
  defaults: TrackingDefaults;
  /** Where a rewritten body larger than memoryLimit waits for EOM. */
  spillDir: string;
  memoryLimit: number;
}

interface MessageState {
  keyId: string | null;
  sender: string;
  rcpts: string[];
  /** X-MSYS-API values in message order: the n-th is the MTA's header index n (1-based, per name). */
  msysValues: string[];
  /** X-Sluice-Message-ID fields the message came with (not ours: removed, so ours is the only one). */
  staleIds: number;
  /** X-Sluice-Message-Signature fields it came with (removed likewise). */
  staleSignatures: number;
  subject: string | null;
  from: string | null;
  headerBytes: number;
  bodyBytes: number;
  msys: MsysApi;
  /** Header fields the MIME walk reads (Content-*, MIME-Version, DKIM-Signature), in order. */
  walkFields: Array<[string, string]>;
  id: string | null;
  tracker: BodyTracker | null;
  /** An invalid X-MSYS-API or an over-large header section: the reply at EOM. */
  refusal: Rejection | null;
}

const replyFor = (r: Rejection): Verdict => ({
  kind: 'replycode',
  code: r.code,
  enhanced: r.enhanced,
  lines: r.text.split(/\r?\n/).map((line) => printable(line).slice(0, 400)),
});

export class SluiceFilter implements MilterHandlers {
  readonly wants = {
    actions: SMFIF.ADDHDRS | SMFIF.CHGHDRS | SMFIF.CHGBODY,
    // Replies only where a decision can be made (MAIL, EOM); HELO, DATA and unknown commands are not
    // even sent: each packet less is a write less for the MTA and a read less here.
    protocol:
      SMFIP.NR_CONN |
      SMFIP.NOHELO |
      SMFIP.NODATA |
      SMFIP.NR_RCPT |
      SMFIP.NR_DATA |
      SMFIP.NR_HDR |
      SMFIP.NR_EOH |
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
      if (clientAddress === null || !this.deps.relay.isTrusted(clientAddress)) {
        const rule = this.deps.unauthenticated ?? 'pass';
        if (rule === 'pass') return { kind: 'accept' };
        if (rule === 'reject')
          return replyFor(new Rejection(550, '5.7.1', 'Authentication required: send with an API key'));
      }
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
        return replyFor(injectionRefused());
      }
      if (decision.kind === 'unavailable') {
        logStoreFailure(ctx.log, decision.error, { key: keyId }, 'key lookup failed: tempfail at MAIL');
        return replyFor(new Rejection(451, '4.3.0', 'Temporary key lookup failure, try again later'));
      }
    }
    this.message = {
      keyId,
      sender,
      rcpts: [],
      msysValues: [],
      staleIds: 0,
      staleSignatures: 0,
      subject: null,
      from: null,
      headerBytes: 0,
      bodyBytes: 0,
      msys: {},
      walkFields: [],
      id: null,
      tracker: null,
      refusal: null,
    };
    return undefined;
  }

  rcpt(_ctx: MilterContext, args: string[]): undefined {
    if (this.message && args[0] !== undefined) this.message.rcpts.push(unbracket(args[0]));
    return undefined;
  }

  header(ctx: MilterContext, name: string, value: string): undefined {
    const m = this.message;
    if (!m || m.refusal) return undefined;
    m.headerBytes += Buffer.byteLength(`${name}: ${value}\r\n`) + (value.match(/\n/g)?.length ?? 0);
    if (m.headerBytes > this.deps.maxHeaderSize)
      return this.refuse(ctx, m, headerTooLarge(this.deps.maxHeaderSize));
    const lower = name.toLowerCase();
    const unfolded = value.replace(/\r?\n(?=[ \t])/g, '').trim();
    if (lower === MSYS_HEADER) {
      if (m.msysValues.length > 0) return this.refuse(ctx, m, duplicateMsysApi());
      m.msysValues.push(unfolded);
    } else if (lower === MESSAGE_ID_LOWER) m.staleIds++;
    else if (lower === SIGNATURE_LOWER) m.staleSignatures++;
    else if (lower === 'subject' && m.subject === null) m.subject = decodeMimeWords(unfolded);
    else if (lower === 'from' && m.from === null) m.from = addressOf(decodeMimeWords(unfolded));
    if (WALK_FIELDS.test(name) && m.walkFields.length < 100) m.walkFields.push([name, value]);
    return undefined;
  }

  async eoh(ctx: MilterContext): Promise<Verdict | undefined> {
    const m = this.message;
    if (!m || m.refusal) return undefined;
    try {
      m.msys = parseMsysApi(m.msysValues);
    } catch (error) {
      if (!(error instanceof Rejection)) throw error;
      ctx.log.info({ queue_id: ctx.queueId(), key: m.keyId, reply: error.toString() }, 'X-MSYS-API refused');
      m.refusal = error;
      return undefined;
    }
    m.id = newMessageId((this.deps.now?.() ?? new Date()).getTime());
    const tracking = this.deps.tracking;
    if (tracking) {
      const key = m.keyId !== null && this.deps.findKey ? await this.deps.findKey(m.keyId) : null;
      const decision = decideTracking(m.msys, key?.defaults, tracking.defaults);
      if (decision.open || decision.click)
        m.tracker = new BodyTracker(
          {
            ...decision,
            baseUrl: tracking.baseUrl,
            signer: tracking.signer,
            messageId: m.id,
            // One body for every recipient: a token can name the recipient only when there is one.
            rcpt: m.rcpts.length === 1 ? m.rcpts[0]! : '',
            maxPartSize: tracking.maxPartSize,
            spillDir: tracking.spillDir,
            memoryLimit: tracking.memoryLimit,
          },
          m.walkFields,
        );
    }
    return undefined;
  }

  async body(_ctx: MilterContext, chunk: Buffer): Promise<undefined> {
    const m = this.message;
    if (!m || m.refusal) return undefined;
    m.bodyBytes += chunk.length;
    await m.tracker?.push(chunk);
    return undefined;
  }

  async eom(ctx: MilterContext): Promise<EomResult> {
    const m = this.message;
    this.message = null;
    if (!m) return { modifications: [], verdict: { kind: 'continue' } };
    if (m.refusal) return { modifications: [], verdict: replyFor(m.refusal) };
    const now = this.deps.now?.() ?? new Date();
    const id = m.id ?? newMessageId(now.getTime());
    const modifications: Modification[] = [];
    // Deleting the last occurrence first keeps the indexes of the others valid.
    for (let index = m.msysValues.length; index >= 1; index--)
      modifications.push({ kind: 'chgheader', index, name: 'X-MSYS-API', value: '' });
    // An id the message brought along (an app's, or a loop's) would be believed downstream.
    for (let index = m.staleIds; index >= 1; index--)
      modifications.push({ kind: 'chgheader', index, name: MESSAGE_ID_HEADER, value: '' });
    for (let index = m.staleSignatures; index >= 1; index--)
      modifications.push({ kind: 'chgheader', index, name: UPSTREAM_SIGNATURE_HEADER, value: '' });
    modifications.push({ kind: 'addheader', name: MESSAGE_ID_HEADER, value: id });
    if (this.deps.idSigner)
      modifications.push({
        kind: 'addheader',
        name: UPSTREAM_SIGNATURE_HEADER,
        value: this.deps.idSigner.sign(id),
      });
    const tracked = m.tracker ? await m.tracker.finish() : null;
    if (tracked?.error)
      ctx.log.warn({ message_id: id, err: tracked.error }, 'tracking failed: the body is left as it came');
    else if (tracked && tracked.result.reasons.length > 0)
      ctx.log.info({ message_id: id, reasons: tracked.result.reasons }, 'tracking left parts untouched');

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
    const events = m.rcpts.map((rcpt) => injectionEvent(facts, rcpt, now));
    // Stored before the reply: a message the MTA queues always has its injection events.
    if (this.deps.record) await this.deps.record(events);
    else this.deps.events.appendMany(events);
    const tracker = m.tracker;
    return {
      modifications,
      body: tracked?.body ?? null,
      verdict: { kind: 'continue' },
      ...(tracker ? { cleanup: () => tracker.dispose() } : {}),
      answered: (eomMs, verdict) =>
        ctx.log.info(
          {
            message_id: id,
            queue_id: ctx.queueId(),
            key: m.keyId,
            rcpts: m.rcpts.length,
            from: m.sender,
            links: tracked?.result.links ?? 0,
            pixels: tracked?.result.pixels ?? 0,
            eom_ms: eomMs,
            ...(verdict.kind === 'continue' ? {} : { verdict: verdict.kind }),
          },
          'injection recorded',
        ),
    };
  }

  /** Decided during the headers: answered at EOM; what was kept of the message is let go now. */
  private refuse(ctx: MilterContext, m: MessageState, refusal: Rejection): undefined {
    m.refusal = refusal;
    m.msysValues = [];
    m.walkFields = [];
    ctx.log.info(
      { queue_id: ctx.queueId(), key: m.keyId, from: m.sender, reply: refusal.toString() },
      'message refused in its header',
    );
    return undefined;
  }

  abort(): void {
    const tracker = this.message?.tracker;
    this.message = null;
    // Nothing waits for it: a spill file is removed in the background.
    if (tracker) void tracker.dispose();
  }
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
