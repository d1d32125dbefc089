/**
 * The `http` and `webhooks` sections: the SparkPost-shaped HTTP API, the limits of the HTTP
 * listener (it faces the Internet: it serves tracking links), and webhook delivery. Limits follow
 * nginx's defaults for timeouts and Postfix's for connections per client.
 */
import { z } from 'zod';
import { cidr, size, timerDuration } from '../validators.js';

/** A timeout of 0 would mean none at all on Node's server, which these limits exist to prevent. */
const timeout = timerDuration.refine((ms) => ms > 0, 'expected a duration longer than 0');

export const httpSection = z
  .strictObject({
    max_body: size().prefault(20_971_520).describe('Largest HTTP request body, in bytes (larger gets 413)'),
    rate_limit: z
      .number()
      .int()
      .min(0)
      .default(1200)
      .describe('API requests one key may make per http.rate_window (more get 429). 0: unlimited'),
    rate_window: timerDuration.prefault('1m').describe('Window of http.rate_limit'),
    max_recipients: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('Recipients per transmission (more get 422)'),
    headers_timeout: timeout
      .prefault('60s')
      .describe(
        "Time a client has to send a request's headers, also on a connection that sends nothing (nginx client_header_timeout); then 408 and close",
      ),
    request_timeout: timeout
      .prefault('300s')
      .describe(
        'Time a client has to send a whole request, headers and body, however slowly it trickles (Node.js requestTimeout); then 408 and close. At least http.headers_timeout',
      ),
    body_timeout: timeout
      .prefault('60s')
      .describe(
        'Longest pause between two reads of a request body (nginx client_body_timeout); then the connection is closed',
      ),
    keep_alive_timeout: timeout
      .prefault('75s')
      .describe('An idle keep-alive connection is closed after this long (nginx keepalive_timeout)'),
    max_connections: z
      .number()
      .int()
      .positive()
      .default(512)
      .describe(
        'Open HTTP connections at most (nginx worker_connections). At the cap, idle connections are closed first; past it a new connection gets 503 and is closed',
      ),
    max_connections_per_client: z
      .number()
      .int()
      .min(0)
      .default(50)
      .describe(
        'Open HTTP connections from one client address at most (Postfix smtpd_client_connection_count_limit); more get 503. 0: no limit',
      ),
    connection_limit_exceptions: z
      .array(cidr)
      .default(['127.0.0.0/8', '::1/128'])
      .describe(
        'Clients exempt from http.max_connections_per_client (tracking.trusted_proxies always are: they carry many clients)',
      ),
  })
  .refine((http) => http.headers_timeout <= http.request_timeout, {
    message: 'http.headers_timeout must not be longer than http.request_timeout',
    path: ['headers_timeout'],
  })
  .prefault({});

export const webhooksSection = z
  .strictObject({
    batch_interval: timerDuration
      .prefault('1s')
      .describe('Events are gathered this long (or up to webhooks.max_batch) before a batch is sent'),
    max_batch: z.number().int().positive().default(500).describe('Events per webhook batch, at most'),
    retry_schedule: z
      .array(timerDuration)
      .min(1)
      .prefault(['30s', '1m', '2m', '5m', '10m', '20m', '30m', '1h'])
      .describe('Waits between attempts of a batch the target did not accept (the last one repeats)'),
    max_age: timerDuration
      .prefault('8h')
      .describe('A batch still not accepted after this long is dropped (as SparkPost)'),
    timeout: timerDuration
      .prefault('10s')
      .describe('Give up waiting for a webhook target to answer after this long'),
    allow_private_targets: z
      .boolean()
      .default(false)
      .describe(
        'Allow webhook targets on loopback, private and link-local networks (off: a key cannot make Sluice post inside your network)',
      ),
  })
  .prefault({});

export type HttpConfig = z.output<typeof httpSection>;

/** The http section with every default, for doors started without a whole config (tests, benchmarks). */
export const defaultHttpConfig = (): HttpConfig => httpSection.parse(undefined);
