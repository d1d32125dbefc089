/**
 * The contract between a milter session (session.ts) and the filter behind it (filter.ts, or a
 * test's): what a filter wants negotiated, the stage handlers it may implement, the context they
 * get (macros, queue id, client), and what they answer (verdicts, modifications at EOM, a
 * replacement body). Types only: the session gives them their protocol meaning.
 */
import type { Logger } from '../log.js';
import type { MacroLists, MilterResponse } from './wire.js';

export type Verdict =
  | { kind: 'continue' | 'accept' | 'reject' | 'tempfail' | 'discard' }
  | { kind: 'replycode'; code: number; enhanced: string | null; lines: string[] };

export type Modification = Extract<
  MilterResponse,
  {
    kind:
      | 'addheader'
      | 'insheader'
      | 'chgheader'
      | 'replbody'
      | 'chgfrom'
      | 'addrcpt'
      | 'delrcpt'
      | 'addrcpt_par'
      | 'quarantine';
  }
>;

/** What a filter answers at end of message. */
export interface EomResult {
  modifications: Modification[];
  /** A new body, sent with replace-body (SMFIF_CHGBODY) after the modifications, in ≤ 65535-byte packets. */
  body?: AsyncIterable<Buffer> | null;
  verdict: Verdict;
  /** Called once the reply is sent or the message is given up (e.g. removes a spill file). */
  cleanup?: () => Promise<void>;
  /**
   * Called right after the reply went out, with the ms from the EOM command to it (null when the
   * connection was gone) and the verdict sent: where a filter logs what it did, off the MTA's clock.
   */
  answered?: (eomMs: number | null, verdict: Verdict) => void;
}

export interface ClientInfo {
  hostname: string;
  family: string;
  port: number;
  address: string;
}

export interface MilterContext {
  /** A macro's latest value; "{auth_authen}" and "auth_authen" name the same one. */
  macro(name: string): string | undefined;
  /** The MTA's queue id ({i}), once the message has reached DATA. */
  queueId(): string | undefined;
  readonly client: ClientInfo | null;
  readonly log: Logger;
}

export type Answer = Verdict | undefined;

/** What a filter implements; every stage is optional (a missing one continues). */
export interface MilterHandlers {
  /** Actions (SMFIF_*) and NO* / NR_* protocol flags (SMFIP_*) wanted, macros per stage. */
  readonly wants: { actions: number; protocol: number; macros: MacroLists };
  connect?(ctx: MilterContext, client: ClientInfo): Answer | Promise<Answer>;
  helo?(ctx: MilterContext, helo: string): Answer | Promise<Answer>;
  mail?(ctx: MilterContext, args: string[]): Answer | Promise<Answer>;
  rcpt?(ctx: MilterContext, args: string[]): Answer | Promise<Answer>;
  data?(ctx: MilterContext): Answer | Promise<Answer>;
  header?(ctx: MilterContext, name: string, value: string): Answer | Promise<Answer>;
  eoh?(ctx: MilterContext): Answer | Promise<Answer>;
  body?(ctx: MilterContext, chunk: Buffer): Answer | Promise<Answer>;
  eom?(ctx: MilterContext): Promise<EomResult>;
  /** The message ended without EOM (A, K, Q or the connection closing). */
  abort?(ctx: MilterContext): void;
}
