/** The `auth` section: `sluice auth`, the Dovecot SASL service Postfix asks to check API keys. */
import { z } from 'zod';
import { listener, size, timerDuration } from '../validators.js';

export const authSection = z
  .strictObject({
    listen: listener
      .default('127.0.0.1:12345')
      .describe('Dovecot auth protocol for Postfix (smtpd_sasl_path = inet:HOST:PORT). null: off'),
    service: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, 'expected a service name such as "smtp"')
      .default('smtp')
      .describe('Only requests for this service are answered (Postfix: smtpd_sasl_service)'),
    allow_insecure: z
      .boolean()
      .default(false)
      .describe(
        'Accept keys from SMTP clients without TLS (Postfix omits "secured"). Only for testing or a trusted network',
      ),
    key_cache: timerDuration
      .prefault('2s')
      .describe(
        'Reuse a key found at AUTH for this long (as smtp.key_cache): a key revoked or changed elsewhere stops applying within it. 0: read on every AUTH',
      ),
    failure_delay: timerDuration
      .prefault('1s')
      .describe('First delay before a failure reply to an address; doubles with each failure, up to 30s'),
    max_line_length: size({ min: 1024 })
      .prefault(65_536)
      .describe('Longest protocol line accepted, in bytes; a longer one closes the connection'),
    max_pending: z
      .number()
      .int()
      .positive()
      .default(64)
      .describe('Requests in progress on one connection; past it the oldest waiting conversation is dropped'),
    pending_timeout: timerDuration
      .prefault('5m')
      .describe('Drop a conversation that waits this long for the next client step (an aborted SMTP AUTH)'),
    max_connections: z
      .number()
      .int()
      .positive()
      .default(500)
      .describe(
        'Concurrent connections in all (Postfix: one per smtpd process, up to its process_limit of each smtpd service); more are closed at once',
      ),
    max_connections_per_peer: z
      .number()
      .int()
      .positive()
      .default(250)
      .describe(
        "Concurrent connections from one address (half of max_connections, as Postfix's smtpd_client_connection_count_limit is half its process limit): one peer cannot lock the others out. More are closed at once, with a log line",
      ),
    idle_timeout: timerDuration
      .prefault('1h')
      .describe(
        'Close a connection silent this long. A Postfix smtpd keeps its connection for its life and, after a close, answers its next AUTH once with 454 4.7.0 (temporary) before reconnecting: keep this above how long an smtpd process lives',
      ),
  })
  .prefault({});
