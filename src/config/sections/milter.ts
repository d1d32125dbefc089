/** The `milter` section: `sluice milter`, the Mail Filter service for Postfix and Sendmail (stage 0). */
import { z } from 'zod';
import { portProblem, size, timerDuration } from '../validators.js';

export const milterSection = z
  .strictObject({
    with_serve: z
      .boolean()
      .default(false)
      .describe('sluice serve also runs the milter on milter.listen (one process for stages 0 and 1)'),
    listen: z
      .string()
      .regex(/^(inet:[^\s]+:\d{1,5}|unix:\/\S+)$/, 'expected "inet:host:port" or "unix:/path"')
      .superRefine((value, ctx) => {
        const problem = value.startsWith('inet:') ? portProblem(value) : null;
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .nullable()
      .default('inet:127.0.0.1:8891')
      .describe('Where Postfix/Sendmail connect: "inet:host:port" or "unix:/path". null: off'),
    // A string, so YAML cannot read 0660 as a number: on the command line, -o 'milter.socket_mode="0600"'.
    socket_mode: z
      .string()
      .regex(/^0?[0-7]{3}$/, 'expected an octal file mode such as "0660"')
      .default('0660')
      .describe('File mode of a unix: socket (Postfix connects as its own user: give it access)'),
    max_packet_size: size({ min: 65_536, max: 64 * 1024 * 1024 })
      .prefault(1_048_576)
      .describe(
        'Largest milter packet accepted, in bytes (a header field travels in one packet); a larger one closes the connection',
      ),
    max_header_size: size()
      .prefault(102_400)
      .describe(
        "Largest header section of one message, in bytes; larger gets 552 5.3.4 at end of data (as smtp.max_header_size; Postfix's header_size_limit is the same 102400)",
      ),
    idle_timeout: timerDuration
      .prefault('5m')
      .describe(
        'Close an MTA connection silent this long with no message open (Postfix keeps one per SMTP session and ends it when its client is silent for smtpd_timeout, 300s: keep this at least that)',
      ),
    message_idle_timeout: timerDuration
      .prefault('1h')
      .describe(
        "The same while a message is open (from MAIL to end of data): the MTA may be receiving a large message from a slow client meanwhile, with nothing to send us (Sendmail's Timeout.datablock is 1h)",
      ),
    progress_interval: timerDuration
      .prefault('10s')
      .describe('While end-of-message work runs, tell the MTA this often that it is in progress'),
    unauthenticated: z
      .enum(['pass', 'process', 'reject'])
      .default('pass')
      .describe(
        'Mail without an API key from outside relay.networks: pass (untouched, no events), process (as an injection), reject (550 5.7.1)',
      ),
    max_connections: z
      .number()
      .int()
      .positive()
      .default(500)
      .describe(
        'Concurrent MTA connections in all (Postfix: one per SMTP session being served); more are closed at once',
      ),
    max_connections_per_peer: z
      .number()
      .int()
      .positive()
      .default(250)
      .describe(
        "Concurrent connections from one address over inet: (half of max_connections, as Postfix's smtpd_client_connection_count_limit is half its process limit); more are closed at once, with a log line. Not applied on a unix: socket",
      ),
  })
  .prefault({});

export type MilterConfig = z.output<typeof milterSection>;
