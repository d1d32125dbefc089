/**
 * The `policy` section: `sluice policy`, the Postfix SMTP access policy delegation service, with
 * the replies it gives (Postfix access(5) actions) and the sending limits it enforces.
 */
import { z } from 'zod';
import { duration, listener, size, timerDuration } from '../validators.js';

/** One line of Postfix access(5) action syntax; no line breaks (they would end the policy reply). */
const ACTION =
  /^(?:DUNNO|OK|HOLD(?: [^\r\n]*)?|(?:REJECT|DEFER|DEFER_IF_PERMIT|DEFER_IF_REJECT|DISCARD|WARN|INFO)(?: [^\r\n]*)?|[45]\d\d(?: [^\r\n]*)?|PREPEND [!-9;-~]+:[^\r\n]*|(?:FILTER|REDIRECT|BCC) [^\r\n]+)$/;

const action = z
  .string()
  .regex(
    ACTION,
    'expected a Postfix action such as DUNNO, "REJECT text", "DEFER_IF_PERMIT text", "451 4.7.1 text"',
  );

const positive = z.number().int().positive().nullable().default(null);

const limitRule = z.strictObject({
  window: duration.describe('Length of the sliding window, e.g. 1m, 1h, 1d'),
  messages: positive.describe('Messages per window; null: not limited'),
  recipients: positive.describe('Recipients per window; null: not limited'),
});

const RULE_HELP = 'each item: {window: 1h, messages: N, recipients: N}';

const limitsSchema = z
  .strictObject({
    key: z.array(limitRule).prefault([]).describe(`Per API key (the SASL user name); ${RULE_HELP}`),
    sender_domain: z.array(limitRule).prefault([]).describe(`Per envelope sender domain; ${RULE_HELP}`),
    client_address: z.array(limitRule).prefault([]).describe(`Per SMTP client IP address; ${RULE_HELP}`),
  })
  .prefault({})
  .describe('Sending limits, counted when the message is accepted (END-OF-MESSAGE); aborted ones are not');

export const policySection = z
  .strictObject({
    listen: listener
      .default('127.0.0.1:10040')
      .describe('Policy delegation for Postfix (check_policy_service inet:HOST:PORT). null: off'),
    unauthenticated_action: action
      .default('DUNNO')
      .describe('Reply to mail without sasl_username (DUNNO: let the other restrictions decide)'),
    key_rejected_action: action
      .default('REJECT 5.7.1 API key not valid for SMTP injection')
      .describe('Reply when sasl_username is not an active key with the smtp/inject grant'),
    over_limit_action: action
      .default('DEFER_IF_PERMIT 4.7.1 Sending rate limit reached ({scope}), try again later')
      .describe('Reply to a recipient over a limit; {scope} becomes key, sender_domain or client_address'),
    store_unavailable: z
      .enum(['defer', 'dunno'])
      .default('defer')
      .describe('When keys or counters cannot be read: defer (DEFER_IF_PERMIT 4.3.0) or dunno (fail open)'),
    reservation_timeout: timerDuration
      .prefault('10m')
      .describe('Quota held at RCPT is released if END-OF-MESSAGE does not come within this time'),
    key_cache: duration
      .prefault('2s')
      .describe(
        'Reuse a key record read from the store for this long: a key revoked or changed on another node stops applying within it. 0: read on every request',
      ),
    idle_timeout: timerDuration.prefault('30m').describe('Close a policy connection idle this long'),
    max_connections: z
      .number()
      .int()
      .positive()
      .default(500)
      .describe(
        'Concurrent connections in all (Postfix keeps one per smtpd process that asked, up to its process_limit of each smtpd service); more are closed at once, with a log line',
      ),
    max_connections_per_peer: z
      .number()
      .int()
      .positive()
      .default(250)
      .describe(
        "Concurrent connections from one address (half of max_connections, as Postfix's smtpd_client_connection_count_limit is half its process limit): one peer cannot lock the others out. More are closed at once, with a log line; Postfix then applies its policy_service_default_action",
      ),
    max_request_size: size({ min: 1024 })
      .prefault(65_536)
      .describe('Largest request accepted, in bytes; a larger one closes the connection'),
    limits: limitsSchema,
  })
  .prefault({});

export type PolicyConfig = z.output<typeof policySection>;
