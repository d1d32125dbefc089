/**
 * One auth-client connection (one Postfix smtpd process) as a state machine over typed messages:
 * the server handshake (in Dovecot's order, which Postfix checks), the client's VERSION (major 1 only) and CPID, then any number of AUTH
 * requests, each a PLAIN or LOGIN conversation keyed by the client's request id. Postfix keeps
 * one connection per smtpd process and multiplexes by id, so requests never wait on each other:
 * a failure is answered after the throttle's delay for its client address (rip), while other
 * requests on the same connection go on. Postfix never tells us when an SMTP client aborts an
 * AUTH, so a conversation waiting for its next step expires, and past `maxPending` the oldest
 * waiting one is dropped. The decision itself is core's (checkSmtpLogin); the session only
 * translates it into OK/FAIL. It never logs a password, and never a user name (one typed in the
 * wrong field may be a key).
 */
import type { AuthThrottle } from '../core/auth-throttle.js';
import { unmapIPv4 } from '../core/networks.js';
import type { SmtpLoginResult } from '../core/smtp-login.js';
import { type Logger, logStoreFailure } from '../log.js';
import {
  type AuthParams,
  type ClientMessage,
  encode,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
  type ServerMessage,
  type WireError,
} from './wire.js';

export const MECHANISMS = ['PLAIN', 'LOGIN'] as const;
type Mechanism = (typeof MECHANISMS)[number];

export interface SessionOptions {
  service: string;
  allowInsecure: boolean;
  maxPending: number;
  pendingTimeoutMs: number;
}

export interface SessionDeps {
  /** Core's decision (checkSmtpLogin); authzid is PLAIN's authorization identity, '' if none. */
  verify(username: string, password: string, clientIp: string, authzid: string): Promise<SmtpLoginResult>;
  throttle: AuthThrottle;
  /** Writes one encoded line to the peer. */
  send(line: string): void;
  /** Ends the connection (after what was sent). */
  close(): void;
  log: Logger;
  options: SessionOptions;
  identity: { spid: string; cuid: string; cookie: string };
}

interface Conversation {
  id: number;
  mechanism: Mechanism;
  ip: string;
  /** What the next CONT carries, or busy while core decides / the failure delay runs. */
  step: 'plain' | 'login-user' | 'login-password' | 'busy';
  username: string;
  timer: NodeJS.Timeout | undefined;
}

const GENERIC_FAILURE = 'Authentication failed';

export class AuthSession {
  private phase: 'version' | 'cpid' | 'ready' | 'closed' = 'version';
  private readonly pending = new Map<number, Conversation>();

  constructor(private readonly deps: SessionDeps) {}

  /** The server half of the handshake; Dovecot sends it without waiting for the client's. */
  start() {
    const { spid, cuid, cookie } = this.deps.identity;
    this.send({ type: 'VERSION', major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR });
    // MECH lines come before SPID, in Dovecot's own order: Postfix takes a SPID with no MECH
    // before it for Dovecot's auth-master socket ("Connected to wrong auth socket") and gives up.
    // `plaintext` is the truth about both: Postfix drops them if smtpd_sasl_security_options says noplaintext.
    for (const name of MECHANISMS) this.send({ type: 'MECH', name, flags: ['plaintext'] });
    this.send({ type: 'SPID', pid: spid });
    this.send({ type: 'CUID', id: cuid });
    this.send({ type: 'COOKIE', cookie });
    this.send({ type: 'DONE' });
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  receive(message: ClientMessage) {
    if (this.phase === 'closed') return;
    if (this.phase === 'version') {
      if (message.type !== 'VERSION') return this.abort(`${message.type} before VERSION`);
      if (message.major !== PROTOCOL_MAJOR)
        return this.abort(`unsupported protocol version ${message.major}`);
      this.phase = 'cpid';
      return;
    }
    if (this.phase === 'cpid') {
      if (message.type !== 'CPID') return this.abort(`${message.type} before CPID`);
      this.phase = 'ready';
      return;
    }
    switch (message.type) {
      case 'AUTH':
        return this.begin(message.id, message.mechanism, message.params);
      case 'CONT':
        return this.next(message.id, message.data);
      case 'CANCEL':
        return this.drop(message.id);
      default:
        return this.abort(`${message.type} after the handshake`);
    }
  }

  /** A codec error: the stream can no longer be trusted. */
  protocolError(error: WireError) {
    this.abort(error.message);
  }

  /** The connection is gone: nothing more is sent, every timer stops. */
  end() {
    this.phase = 'closed';
    for (const conversation of this.pending.values()) clearTimeout(conversation.timer);
    this.pending.clear();
  }

  private begin(id: number, mechanism: string, params: AuthParams) {
    if (this.pending.has(id)) return this.abort(`duplicate request id ${id}`);
    if (!isMechanism(mechanism)) return this.failNow(id, 'Unsupported authentication mechanism');
    if (params.service !== this.deps.options.service) return this.failNow(id, 'Unsupported service');
    if (!params.secured && !this.deps.options.allowInsecure)
      return this.failNow(id, 'Plaintext authentication disallowed on non-secure connections');
    if (!this.makeRoom(id)) return;
    const conversation: Conversation = {
      id,
      mechanism,
      ip: params.rip ? unmapIPv4(params.rip) : '',
      step: mechanism === 'PLAIN' ? 'plain' : 'login-user',
      username: '',
      timer: undefined,
    };
    this.pending.set(id, conversation);
    // SMTP's "=" is an empty initial response; for LOGIN an empty one means "ask for the user".
    const initial = params.resp === '=' ? '' : params.resp;
    if (initial === undefined || (initial === '' && mechanism === 'LOGIN')) return this.prompt(conversation);
    this.step(conversation, initial);
  }

  private next(id: number, data: string) {
    const conversation = this.pending.get(id);
    // Expired, dropped or never begun: answer it, so a client still waiting is not left hanging.
    if (!conversation || conversation.step === 'busy') {
      if (!conversation) this.failNow(id, GENERIC_FAILURE);
      return;
    }
    clearTimeout(conversation.timer);
    this.step(conversation, data);
  }

  private step(conversation: Conversation, base64: string) {
    const decoded = decodeBase64(base64);
    if (decoded === null) return this.finish(conversation, 'Invalid base64 data');
    switch (conversation.step) {
      case 'plain': {
        const parts = decoded.toString('utf8').split('\0');
        const [authzid, username, password] = parts;
        if (parts.length !== 3 || authzid === undefined || username === undefined || password === undefined)
          return this.finish(conversation, 'Invalid PLAIN data');
        return this.verify(conversation, username, password, authzid);
      }
      case 'login-user':
        conversation.username = decoded.toString('utf8');
        conversation.step = 'login-password';
        return this.prompt(conversation);
      case 'login-password':
        return this.verify(conversation, conversation.username, decoded.toString('utf8'), '');
      case 'busy':
        return;
    }
  }

  /** Sends the mechanism's next challenge and waits, for a while, for the answer. */
  private prompt(conversation: Conversation) {
    const challenge =
      conversation.step === 'plain' ? '' : conversation.step === 'login-user' ? 'Username:' : 'Password:';
    this.send({ type: 'CONT', id: conversation.id, data: Buffer.from(challenge).toString('base64') });
    conversation.timer = setTimeout(() => this.expire(conversation), this.deps.options.pendingTimeoutMs);
    conversation.timer.unref();
  }

  private verify(conversation: Conversation, username: string, password: string, authzid: string) {
    conversation.step = 'busy';
    conversation.username = '';
    const { log, throttle } = this.deps;
    const { id, ip, mechanism } = conversation;
    this.deps.verify(username, password, ip, authzid).then(
      (result) => {
        if (this.pending.get(id) !== conversation) return;
        if (result.ok) {
          throttle.succeeded(ip);
          log.info({ rip: ip, key: result.key.id, mechanism }, 'authenticated');
          this.pending.delete(id);
          return this.send({ type: 'OK', id, params: [['user', result.key.id]] });
        }
        const delay = throttle.failed(ip);
        // The key id when the key exists (it lacks smtp/inject, or rip is not in its valid_ips);
        // Postfix gets the generic failure either way.
        const key = 'keyId' in result && result.keyId ? { key: result.keyId } : {};
        log.warn({ rip: ip, mechanism, reason: result.reason, ...key, delay_ms: delay }, 'auth failed');
        conversation.timer = setTimeout(() => this.finish(conversation, GENERIC_FAILURE), delay);
      },
      (error: unknown) => {
        if (this.pending.get(id) !== conversation) return;
        logStoreFailure(log, error, { rip: ip }, 'key lookup failed: temporary failure');
        this.finish(conversation, 'Temporary authentication failure', true);
      },
    );
  }

  /** Ends a conversation with FAIL; the reason is generic, as the protocol asks. */
  private finish(conversation: Conversation, reason: string, temporary = false) {
    if (this.pending.get(conversation.id) !== conversation) return;
    clearTimeout(conversation.timer);
    this.pending.delete(conversation.id);
    this.failNow(conversation.id, reason, temporary);
  }

  private failNow(id: number, reason: string, temporary = false) {
    const params: Array<[string, string | true]> = [['reason', reason]];
    if (temporary) params.push(['temp', true], ['code', 'temp_fail']);
    this.send({ type: 'FAIL', id, params });
  }

  private expire(conversation: Conversation) {
    this.deps.log.info({ rip: conversation.ip, id: conversation.id }, 'auth conversation expired');
    this.finish(conversation, 'Authentication timed out');
  }

  private drop(id: number) {
    const conversation = this.pending.get(id);
    if (!conversation) return;
    clearTimeout(conversation.timer);
    this.pending.delete(id);
  }

  /**
   * Makes room for one more request: drops the oldest conversation waiting on the client (most
   * likely an SMTP client that gave up). When every one is busy, the new request is refused.
   */
  private makeRoom(id: number): boolean {
    if (this.pending.size < this.deps.options.maxPending) return true;
    for (const conversation of this.pending.values()) {
      if (conversation.step === 'busy') continue;
      this.deps.log.warn({ id: conversation.id, rip: conversation.ip }, 'too many pending requests: dropped');
      this.finish(conversation, 'Too many pending requests');
      return true;
    }
    this.failNow(id, 'Too many pending requests', true);
    return false;
  }

  private abort(reason: string) {
    if (this.phase === 'closed') return;
    this.deps.log.warn({ reason }, 'auth protocol error: closing');
    this.end();
    this.deps.close();
  }

  private send(message: ServerMessage) {
    if (this.phase !== 'closed') this.deps.send(encode(message));
  }
}

function isMechanism(name: string): name is Mechanism {
  return (MECHANISMS as readonly string[]).includes(name);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64 (Buffer.from would silently skip junk), or null. */
export function decodeBase64(data: string): Buffer | null {
  return BASE64.test(data) ? Buffer.from(data, 'base64') : null;
}
