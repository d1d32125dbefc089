/**
 * smtp-server derives an enhanced status code from the basic code alone (554 → 5.6.0), which is
 * wrong for most policy replies (a refused relay is 5.7.1). Sluice's replies carry their own
 * enhanced code at the start of the text ("5.7.1 Relay access denied"); this adapter makes
 * smtp-server send such a reply as written, and leaves every other reply to smtp-server.
 */
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { Rejection } from '../core/reply.js';

const OWN_ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;
let installed = false;

export function installEnhancedReplies(): void {
  if (installed) return;
  installed = true;
  const original = SMTPConnection.prototype.send;
  SMTPConnection.prototype.send = function send(code, data, context) {
    if (typeof data === 'string' && OWN_ENHANCED.test(data)) return original.call(this, code, data, false);
    return original.call(this, code, data, context);
  };
}

/** A Rejection as the error smtp-server expects from a handler callback. */
export function smtpError(rejection: Rejection): Error & { responseCode: number } {
  return Object.assign(new Error(`${rejection.enhanced} ${rejection.text}`), {
    responseCode: rejection.code,
  });
}

export function asRejection(error: unknown): Rejection {
  if (error instanceof Rejection) return error;
  return new Rejection(451, '4.3.0', 'Local error in processing, try again later');
}
