/**
 * When smtp-server greets. Its SMTPConnection.init waits a fixed 100 ms after accepting a
 * connection before the 220 (an early-talker check that is not an option), so a client that opens
 * a connection per message waited 100 ms for every message, and 20 such clients could never send
 * more than 200 messages a second. For every server given a policy here, a connection is greeted
 * at once, or, for the clients the policy names (core/greet-pause.ts), after its pause; a client
 * that talks during the pause gets the policy's refusal and is disconnected.
 *
 * A hook, not a copy: init and connectionReady stay the library's own. init still arms its timer,
 * whose call to connectionReady is ignored for these connections; the greeting comes from calling
 * the library's connectionReady ourselves. test/smtp/greeting.test.ts fails if an upgrade of
 * smtp-server brings the fixed delay back or changes what this relies on.
 */
import type { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { Rejection } from '../core/reply.js';

export interface GreetingPolicy {
  /** Milliseconds to wait before greeting this remote address; 0 greets at once. */
  pauseFor(remoteAddress: string): number;
  /** The reply to a client that talks before its greeting; the connection is closed after it. */
  earlyTalker: Rejection;
  /** Told of every client refused for talking early (for the log). */
  onEarlyTalker?(remoteAddress: string): void;
}

type State = 'pausing' | 'greeted' | 'refused';

const policies = new WeakMap<SMTPServer, GreetingPolicy>();
/** Connections whose greeting this hook owns; the library's own call to connectionReady is ignored. */
const states = new WeakMap<SMTPConnection, State>();
let installed = false;

/** Greets the connections of `server` as `policy` says instead of after smtp-server's fixed delay. */
export function greetAsConfigured(server: SMTPServer, policy: GreetingPolicy): void {
  install();
  policies.set(server, policy);
}

function install(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype;
  const libraryInit = proto.init;
  const ready = proto.connectionReady;

  proto.init = function init(this: SMTPConnection) {
    const policy = policies.get(this._server);
    // Implicit TLS is upgraded inside init, asynchronously: left to the library (Sluice uses STARTTLS).
    if (!policy || this.needsUpgrade) return libraryInit.call(this);
    states.set(this, 'pausing');
    libraryInit.call(this);
    // init refused the connection at once (maxClients): nothing to greet.
    if (this._closing || this._closed) return;
    const pause = policy.pauseFor(this.remoteAddress);
    if (pause <= 0) return greet(this, ready);
    const socket = this._socket;
    const early = () => {
      if (states.get(this) !== 'pausing') return;
      states.set(this, 'refused');
      clearTimeout(timer);
      policy.onEarlyTalker?.(this.remoteAddress);
      const { code, enhanced, text } = policy.earlyTalker;
      // Ahead of the library's parser, which would answer "421 You talk too soon": once the
      // connection is closing, its reply is not written.
      this.send(code, `${enhanced} ${text}`, false);
      this.close();
    };
    socket.prependOnceListener('data', early);
    const timer = setTimeout(() => {
      socket.off('data', early);
      greet(this, ready);
    }, pause);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  };

  proto.connectionReady = function connectionReady(this: SMTPConnection, next?: () => void) {
    // smtp-server's fixed early-talker timer, for a connection this hook greets itself.
    if (states.has(this)) return;
    ready.call(this, next);
  };
}

function greet(connection: SMTPConnection, ready: SMTPConnection['connectionReady']): void {
  if (states.get(connection) !== 'pausing' || connection._closing || connection._closed) return;
  states.set(connection, 'greeted');
  ready.call(connection);
}
