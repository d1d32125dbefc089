/**
 * One MTA → filter connection as a state machine over typed milter commands (wire.ts), speaking
 * for a set of stage handlers (filter.ts, or any other filter). It
 * - negotiates: version 6 or the MTA's lower one; the actions and NO* and NR_* protocol flags the
 *   handlers want, intersected with what the MTA offers; HDR_LEADSPC and SKIP whenever offered;
 *   the macros each stage needs, as SMFIM lists in the OPTNEG reply (with SETSYMLIST);
 * - keeps the macro store: the MTA's D packet before a command replaces that stage's macros;
 *   A (abort) drops the message's stages and keeps the connection's (C, H); K (quit, new
 *   connection follows) drops everything and waits for a new C; Q ends the connection;
 * - checks the order of stages (out of order is a protocol error: the connection is closed);
 * - replies exactly once to every stage not negotiated with an NR_* flag (continue unless the
 *   handler decides otherwise), never to an NR_* stage, A, D, Q or K;
 * - hides Postfix/Sendmail differences: header values reach handlers without the leading space
 *   (HDR_LEADSPC or not) and with LF-only folding; headers it adds carry the leading space when
 *   HDR_LEADSPC is on and fold with LF only; the queue id {i} is offered only from DATA on,
 *   since Postfix may not have one at MAIL; a long EOM handler sends progress packets.
 * A handler that throws makes the message tempfail (at its next replying stage); it never
 * takes the connection down.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import { MAX_BODY_CHUNK, MILTER_VERSION, SMFIF, SMFIP } from './constants.js';
import type {
  Answer,
  ClientInfo,
  EomResult,
  MilterContext,
  MilterHandlers,
  Modification,
  Verdict,
} from './handlers.js';
import { encodeResponse, type MilterCommand, type MilterResponse, type WireError } from './wire.js';

export interface SessionDeps {
  handlers: MilterHandlers;
  send(bytes: Buffer): void;
  /** Ends the connection (after what was sent). */
  close(): void;
  log: Logger;
  /** While an EOM handler runs, a progress packet goes out this often (the MTA's timer restarts). */
  progressIntervalMs?: number;
  /** hold() keeps output back until release() sends it in one go (the EOM packets: fewer writes). */
  hold?(): void;
  release?(): void;
}

type Phase = 'optneg' | 'ready' | 'conn' | 'mail' | 'data' | 'headers' | 'body' | 'closed';

/** Phases in which each command may arrive, and the phase it leads to. */
const ORDER: Partial<Record<MilterCommand['kind'], { from: Phase[]; to?: Phase }>> = {
  connect: { from: ['ready'], to: 'conn' },
  helo: { from: ['conn', 'mail'] },
  mail: { from: ['conn'], to: 'mail' },
  rcpt: { from: ['mail'] },
  data: { from: ['mail'], to: 'data' },
  header: { from: ['mail', 'data', 'headers'], to: 'headers' },
  eoh: { from: ['mail', 'data', 'headers'], to: 'body' },
  body: { from: ['mail', 'data', 'headers', 'body'], to: 'body' },
  eom: { from: ['mail', 'data', 'headers', 'body'], to: 'conn' },
  unknown: { from: ['conn', 'mail'] },
};

const NO_REPLY: Record<string, number> = {
  connect: SMFIP.NR_CONN,
  helo: SMFIP.NR_HELO,
  mail: SMFIP.NR_MAIL,
  rcpt: SMFIP.NR_RCPT,
  data: SMFIP.NR_DATA,
  header: SMFIP.NR_HDR,
  eoh: SMFIP.NR_EOH,
  body: SMFIP.NR_BODY,
  unknown: SMFIP.NR_UNKN,
};

/** Macro stages by the command code they precede; the message's stages are dropped by A. */
const CONNECTION_STAGES = ['C', 'H'];
const LOOKUP_ORDER = ['E', 'N', 'L', 'T', 'R', 'M', 'U', 'H', 'C'];
const ACTIONS_OF: Record<Modification['kind'], number> = {
  addheader: SMFIF.ADDHDRS,
  insheader: SMFIF.ADDHDRS,
  chgheader: SMFIF.CHGHDRS,
  replbody: SMFIF.CHGBODY,
  chgfrom: SMFIF.CHGFROM,
  addrcpt: SMFIF.ADDRCPT,
  delrcpt: SMFIF.DELRCPT,
  addrcpt_par: SMFIF.ADDRCPT_PAR,
  quarantine: SMFIF.QUARANTINE,
};
const TEMPFAIL: Verdict = {
  kind: 'replycode',
  code: 451,
  enhanced: '4.3.0',
  lines: ['Temporary filter failure'],
};

export class MilterSession {
  private phase: Phase = 'optneg';
  /** Negotiated values (valid once phase is past optneg). */
  actions = 0;
  protocol = 0;
  version = 0;
  private readonly macros = new Map<string, Map<string, string>>();
  private reachedData = false;
  private failed = false;
  private client: ClientInfo | null = null;
  readonly ctx: MilterContext;

  constructor(private readonly deps: SessionDeps) {
    const session = this;
    this.ctx = {
      macro: (name) => this.macro(name),
      queueId: () => (this.reachedData ? this.macro('i') : undefined),
      get client() {
        return session.client;
      },
      log: deps.log,
    };
  }

  get state(): Phase {
    return this.phase;
  }

  /** Handles one command; resolves once every reply it needs has been sent. */
  async receive(command: MilterCommand): Promise<void> {
    if (this.phase === 'closed') return;
    switch (command.kind) {
      case 'optneg':
        if (this.phase !== 'optneg') return this.abortConnection('OPTNEG after negotiation');
        return this.negotiate(command.version, command.actions, command.protocol);
      case 'macro':
        if (this.phase === 'optneg') return this.abortConnection('macros before negotiation');
        this.macros.set(command.stage, new Map(command.macros.map(([k, v]) => [bare(k), v])));
        return;
      case 'abort':
        if (this.phase === 'optneg') return this.abortConnection('abort before negotiation');
        if (this.phase !== 'ready') this.endMessage(true);
        return;
      case 'quit_nc':
        if (this.phase === 'optneg') return this.abortConnection('quit-new-connection before negotiation');
        this.endMessage(true);
        this.macros.clear();
        this.client = null;
        this.phase = 'ready';
        return;
      case 'quit':
        return this.end();
    }
    const order = ORDER[command.kind]!;
    if (!order.from.includes(this.phase))
      return this.abortConnection(`${command.kind} in phase ${this.phase}`);
    if (order.to) this.phase = order.to;
    if (
      command.kind === 'data' ||
      command.kind === 'header' ||
      command.kind === 'eoh' ||
      command.kind === 'body'
    )
      this.reachedData = true;
    if (command.kind === 'eom') return this.eom(command.chunk);
    const verdict = await this.dispatch(command);
    if ((this.protocol & (NO_REPLY[command.kind] ?? 0)) !== 0) {
      if (verdict && verdict.kind !== 'continue')
        this.deps.log.warn(
          { stage: command.kind, verdict: verdict.kind },
          'verdict at a no-reply stage dropped',
        );
      return;
    }
    this.reply(verdict ?? { kind: 'continue' });
    // A final verdict ends the message (an RCPT verdict only concerns that recipient).
    if (verdict && verdict.kind !== 'continue' && ['mail', 'data', 'headers', 'body'].includes(this.phase)) {
      if (command.kind !== 'rcpt') this.endMessage(true);
    }
  }

  /** A codec error: the stream can no longer be trusted. */
  protocolError(error: WireError): void {
    this.abortConnection(error.message);
  }

  /** The connection is gone: the message in progress (if any) is abandoned. */
  end(): void {
    if (this.phase === 'closed') return;
    if (this.phase !== 'optneg' && this.phase !== 'ready') this.endMessage(true);
    this.phase = 'closed';
    this.deps.close();
  }

  private negotiate(version: number, offeredActions: number, offeredProtocol: number): void {
    if (version < 2) {
      this.abortConnection(`unsupported milter version ${version}`);
      return;
    }
    const { wants } = this.deps.handlers;
    this.version = Math.min(version, MILTER_VERSION);
    const hasMacros = Object.values(wants.macros).some((names) => names && names.length > 0);
    const actions = wants.actions | (hasMacros ? SMFIF.SETSYMLIST : 0);
    this.actions = actions & offeredActions;
    const missing = wants.actions & ~offeredActions;
    if (missing)
      this.deps.log.warn({ missing_actions: missing }, 'the MTA does not offer every action we need');
    this.protocol = (wants.protocol | SMFIP.HDR_LEADSPC | SMFIP.SKIP) & offeredProtocol;
    const macros = (this.actions & SMFIF.SETSYMLIST) !== 0 && this.version >= 6 ? wants.macros : undefined;
    this.phase = (this.protocol & SMFIP.NOCONNECT) !== 0 ? 'conn' : 'ready';
    this.send({
      kind: 'optneg',
      version: this.version,
      actions: this.actions,
      protocol: this.protocol,
      ...(macros ? { macros } : {}),
    });
  }

  private async dispatch(command: MilterCommand): Promise<Answer> {
    const h = this.deps.handlers;
    if (this.failed && command.kind !== 'rcpt') return TEMPFAIL;
    try {
      switch (command.kind) {
        case 'connect':
          this.client = {
            hostname: command.hostname,
            family: command.family,
            port: command.port,
            address: command.address,
          };
          return await h.connect?.(this.ctx, this.client);
        case 'helo':
          return await h.helo?.(this.ctx, command.helo);
        case 'mail':
          return await h.mail?.(this.ctx, command.args);
        case 'rcpt':
          return await h.rcpt?.(this.ctx, command.args);
        case 'data':
          return await h.data?.(this.ctx);
        case 'header': {
          // With HDR_LEADSPC the value keeps the space after the colon; handlers never see it.
          const lead = (this.protocol & SMFIP.HDR_LEADSPC) !== 0 && command.value.startsWith(' ');
          return await h.header?.(this.ctx, command.name, lead ? command.value.slice(1) : command.value);
        }
        case 'eoh':
          return await h.eoh?.(this.ctx);
        case 'body':
          return await h.body?.(this.ctx, command.chunk);
        default:
          return undefined;
      }
    } catch (error) {
      this.deps.log.error({ err: error, stage: command.kind }, 'milter handler failed: message tempfails');
      this.failed = true;
      return TEMPFAIL;
    }
  }

  private async eom(lastChunk: Buffer): Promise<void> {
    const h = this.deps.handlers;
    const started = performance.now();
    let held = false;
    let result: EomResult = { modifications: [], verdict: { kind: 'continue' } };
    const interval = this.deps.progressIntervalMs ?? 10_000;
    const progress = setInterval(() => this.send({ kind: 'progress' }), interval);
    progress.unref();
    try {
      if (this.failed) throw new Error('an earlier stage failed');
      // Sendmail may put the last body bytes into the EOM packet itself.
      if (lastChunk.length > 0) await h.body?.(this.ctx, lastChunk);
      if (h.eom) result = await h.eom(this.ctx);
      const refused = result.modifications.find((m) => (this.actions & ACTIONS_OF[m.kind]) === 0);
      if (refused) throw new Error(`modification ${refused.kind} was not negotiated`);
      if (result.body && (this.actions & SMFIF.CHGBODY) === 0)
        throw new Error('modification replbody was not negotiated');
      if (this.phase !== 'closed') {
        this.deps.hold?.();
        held = true;
        for (const modification of result.modifications) this.modify(modification);
        // A body that fails half-way still ends in a tempfail: the MTA then drops what it was sent.
        if (result.body)
          for await (const piece of result.body) this.modify({ kind: 'replbody', chunk: piece });
      }
    } catch (error) {
      if (!this.failed)
        this.deps.log.error({ err: error }, 'milter end-of-message failed: message tempfails');
      const { cleanup, answered } = result;
      result = {
        modifications: [],
        verdict: TEMPFAIL,
        ...(cleanup ? { cleanup } : {}),
        ...(answered ? { answered } : {}),
      };
    } finally {
      clearInterval(progress);
    }
    if (this.phase !== 'closed') this.reply(result.verdict);
    if (held) this.deps.release?.();
    // From the EOM command to the last reply byte handed to the socket: what the MTA waits for.
    const eomMs = this.phase === 'closed' ? null : Number((performance.now() - started).toFixed(3));
    // Whatever comes after the reply (removing a spill file, the filter's log line) is off the
    // MTA's clock.
    if (result.answered) {
      try {
        result.answered(eomMs, result.verdict);
      } catch (error) {
        this.deps.log.warn({ err: error }, 'milter after-reply hook failed');
      }
    } else if (eomMs !== null) this.deps.log.debug({ eom_ms: eomMs }, 'end of message answered');
    await result
      .cleanup?.()
      .catch((error: unknown) => this.deps.log.warn({ err: error }, 'milter cleanup failed'));
    if (this.phase === 'closed') return;
    this.endMessage(false);
  }

  private modify(m: Modification): void {
    if (m.kind === 'replbody') {
      for (let at = 0; at < m.chunk.length; at += MAX_BODY_CHUNK)
        this.send({ kind: 'replbody', chunk: m.chunk.subarray(at, at + MAX_BODY_CHUNK) });
      return;
    }
    if (m.kind === 'addheader' || m.kind === 'insheader' || m.kind === 'chgheader') {
      // MTAs fold added headers with LF alone and add CR themselves; with HDR_LEADSPC the value
      // is written as is after the colon, so it needs its space.
      let value = m.value.replace(/\r\n/g, '\n');
      if ((this.protocol & SMFIP.HDR_LEADSPC) !== 0 && value !== '' && !/^[ \t]/.test(value))
        value = ` ${value}`;
      this.send({ ...m, value });
      return;
    }
    this.send(m);
  }

  private reply(verdict: Verdict): void {
    this.send(verdict);
  }

  private endMessage(aborted: boolean): void {
    if (aborted && ['mail', 'data', 'headers', 'body'].includes(this.phase))
      this.deps.handlers.abort?.(this.ctx);
    for (const stage of [...this.macros.keys()])
      if (!CONNECTION_STAGES.includes(stage)) this.macros.delete(stage);
    this.reachedData = false;
    this.failed = false;
    if (this.phase !== 'optneg' && this.phase !== 'ready' && this.phase !== 'closed') this.phase = 'conn';
  }

  private macro(name: string): string | undefined {
    const key = bare(name);
    for (const stage of LOOKUP_ORDER) {
      const value = this.macros.get(stage)?.get(key);
      if (value !== undefined) return value;
    }
    return undefined;
  }

  private abortConnection(reason: string): void {
    if (this.phase === 'closed') return;
    this.deps.log.warn({ reason }, 'milter protocol error: closing the connection');
    this.end();
  }

  private send(response: MilterResponse): void {
    if (this.phase !== 'closed') this.deps.send(encodeResponse(response));
  }
}

/** "{auth_authen}" → "auth_authen"; "i" stays "i". */
function bare(name: string): string {
  return name.startsWith('{') && name.endsWith('}') ? name.slice(1, -1) : name;
}
