/**
 * smtp-server derives an enhanced status code from the basic code alone (554 → 5.6.0), which is
 * wrong for most policy replies (a refused relay is 5.7.1). Sluice's replies carry their own
 * enhanced code at the start of the text ("5.7.1 Relay access denied"); this adapter makes
 * smtp-server send such a reply as written, and leaves every other reply to smtp-server.
 *
 * It also keeps AUTH out of the EHLO reply until TLS is up (unless allow_insecure_auth): smtp-server
 * refuses AUTH before STARTTLS (538) but still advertises it, so clients such as Python's smtplib or
 * swaks send the API key in clear text first and only then learn it was refused (RFC 4954 section 4;
 * Postfix's smtpd_tls_auth_only).
 *
 * And it gives smtp-server's refusal at maxClients (smtp.max_connections) the enhanced code it
 * lacks: 421 4.3.2, "system not accepting network messages", as Postfix's postscreen answers when
 * all its ports are busy.
 */
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { Rejection } from '../core/reply.js';

const OWN_ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;
const TOO_MANY_CLIENTS = ' Too many connected clients, try again in a moment';
let installed = false;

export function installEnhancedReplies(): void {
  if (installed) return;
  installed = true;
  const original = SMTPConnection.prototype.send;
  SMTPConnection.prototype.send = function send(code, data, context) {
    if (typeof data === 'string' && OWN_ENHANCED.test(data)) return original.call(this, code, data, false);
    if (code === 421 && typeof data === 'string' && data.endsWith(TOO_MANY_CLIENTS))
      return original.call(this, code, `4.3.2 ${data}`, false);
    // The EHLO reply is the only one smtp-server sends as a list of lines.
    if (code === 250 && Array.isArray(data) && !this.secure && !this._server.options.allowInsecureAuth)
      return original.call(
        this,
        code,
        data.filter((line) => !line.startsWith('AUTH ')),
        context,
      );
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
