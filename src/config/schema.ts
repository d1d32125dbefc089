/**
 * The configuration schema: the single source of truth for every option, its default and its
 * documentation. The loader validates against it, and contrib/sluice.example.yaml is generated
 * from it, so docs and behaviour cannot drift apart. Every option has a default: no file is needed.
 */
import { z } from 'zod';
import { adminSection } from './sections/admin.js';
import { authSection } from './sections/auth.js';
import { bouncesSection } from './sections/bounces.js';
import { consoleSection } from './sections/console.js';
import { outboundDeliveryOptions, outboundTls } from './sections/delivery.js';
import { eventsSection } from './sections/events.js';
import { httpSection, webhooksSection } from './sections/http.js';
import { metricsSection } from './sections/metrics.js';
import { milterSection } from './sections/milter.js';
import { pickupSection } from './sections/pickup.js';
import { policySection } from './sections/policy.js';
import { storeSection } from './sections/store.js';
import { trackingSection } from './sections/tracking.js';
import { transmissionsSection } from './sections/transmissions.js';
import { cidr, duration, listener, portProblem, size, timerDuration } from './validators.js';

const listenSchema = z
  .strictObject({
    smtp: listener
      .default('127.0.0.1:2525')
      .describe(
        'SMTP injection (like port 25): relays only for relay.networks or authenticated clients. null: off',
      ),
    submission: listener
      .default('127.0.0.1:2587')
      .describe('Submission (like port 587): STARTTLS, then AUTH is required. null: off'),
    http: listener.default('127.0.0.1:8080').describe('HTTP API (/api/v1) and tracking. null: off'),
  })
  .prefault({});

const relaySchema = z
  .strictObject({
    networks: z
      .array(cidr)
      .default(['127.0.0.0/8', '::1/128'])
      .describe('Clients in these networks may relay without AUTH on the smtp listener'),
    require_auth: z
      .boolean()
      .default(false)
      .describe('true: unauthenticated injection is refused on every listener, trusted networks included'),
  })
  .prefault({});

const tlsSchema = z
  .strictObject({
    cert: z
      .string()
      .nullable()
      .default(null)
      .describe('PEM certificate chain file. null: self-signed pair in data_dir'),
    key: z.string().nullable().default(null).describe('PEM private key file for tls.cert'),
  })
  .prefault({});

const smtpSchema = z
  .strictObject({
    hostname: z
      .string()
      .nullable()
      .default(null)
      .describe('Name in the greeting, Received headers and EHLO to peers. null: the machine host name'),
    greet_pause: timerDuration
      .prefault(0)
      .describe(
        "Wait this long before the 220 greeting for the clients greet_pause_networks names; one that talks first gets 554 5.5.1 and is disconnected (Postfix postscreen's greet wait). 0: greet at once",
      ),
    greet_pause_networks: z
      .array(cidr)
      .nullable()
      .default(null)
      .describe('Clients that wait greet_pause. null: every client outside relay.networks'),
    max_message_size: size()
      .prefault(26_214_400)
      .describe('Largest message accepted, in bytes (advertised with SIZE; larger gets 552 5.3.4)'),
    max_recipients: z
      .number()
      .int()
      .positive()
      .default(1000)
      .describe('Recipients per message (more get 452 4.5.3)'),
    max_header_size: size()
      .prefault(102_400)
      .describe('Largest header section accepted, in bytes (larger gets 552 5.3.4)'),
    max_line_length: size()
      .prefault(65_536)
      .describe('Longest message line accepted, in bytes (longer gets 552 5.3.4; RFC 5322 asks for 998)'),
    max_command_length: size({ min: 512 }).prefault(4096).describe('Longest SMTP command line, in bytes'),
    max_connections: z
      .number()
      .int()
      .positive()
      .default(1000)
      .describe('Concurrent SMTP connections per listener'),
    max_connections_per_ip: z
      .number()
      .int()
      .positive()
      .default(50)
      .describe('Concurrent SMTP connections from one client address (more get 421 4.7.0)'),
    idle_timeout: timerDuration.prefault('5m').describe('Close a connection idle this long (421 4.4.2)'),
    allow_insecure_auth: z
      .boolean()
      .default(false)
      .describe('Allow AUTH without STARTTLS (only for testing or a trusted local network)'),
    auth_failure_delay: timerDuration
      .prefault('1s')
      .describe('First delay after a failed AUTH from an address; doubles with each failure, up to 30s'),
    key_cache: duration
      .prefault('2s')
      .describe(
        'Reuse a key record this long, at AUTH (found by its hash: a hash and a cache lookup, not a store read) and when an authenticated session has its key checked again at each MAIL (deleted, smtp/inject removed, valid_ips changed: 550 5.7.1). A key revoked or changed elsewhere stops applying within it. 0: read every time',
      ),
  })
  .refine((smtp) => smtp.greet_pause > 0 || smtp.greet_pause_networks === null, {
    message: 'smtp.greet_pause_networks is set but smtp.greet_pause is 0: nobody would wait',
    path: ['greet_pause_networks'],
  })
  .prefault({});

const deliverySchema = z
  .strictObject({
    relayhost: z
      .string()
      .regex(
        /^(\[[^\]\s]+\]|[^\s:[\]]+)(:\d{1,5})?$/,
        'expected Postfix syntax: "[host]:port" or "host:port"',
      )
      .superRefine((value, ctx) => {
        const problem = portProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .nullable()
      .default(null)
      .describe(
        'Send everything here. "[host]:port": no MX lookup; "host:port": MX lookup of host. null: MX',
      ),
    smtp_port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .default(25)
      .describe('Port used for MX and A/AAAA next hops'),
    max_connections: z
      .number()
      .int()
      .positive()
      .default(100)
      .describe('Concurrent outbound connections in all'),
    max_connections_per_destination: z
      .number()
      .int()
      .positive()
      .default(20)
      .describe('Concurrent outbound connections to one next hop'),
    max_messages_per_connection: z
      .number()
      .int()
      .positive()
      .default(100)
      .describe('Messages sent over one connection before it is closed'),
    connection_idle_timeout: timerDuration
      .prefault('10s')
      .describe('Close an idle outbound connection after this long'),
    connect_timeout: timerDuration
      .prefault('30s')
      .describe('Give up connecting to a next hop after this long'),
    command_timeout: timerDuration
      .prefault('5m')
      .describe('Give up waiting for a reply from a next hop after this long'),
    tls: outboundTls.default('may'),
    retry_schedule: z
      .array(timerDuration)
      .min(1)
      .prefault(['1m', '5m', '15m', '30m', '1h', '2h', '4h'])
      .describe('Waits between attempts (the last one repeats), each varied by retry_jitter'),
    max_queue_lifetime: duration
      .prefault('72h')
      .describe('A message still undelivered after this long bounces (as SparkPost: 72h)'),
    ...outboundDeliveryOptions,
  })
  .prefault({});

const logSchema = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info').describe('Log level'),
    format: z
      .enum(['json', 'text'])
      .default('json')
      .describe(
        'json: one JSON object a line; text: one line per event as Postfix writes them (to=<...> relay=... delay=... dsn=... status=sent (reply)). ISO times either way; --pretty overrides both',
      ),
  })
  .prefault({});

export const configSchema = z.strictObject({
  data_dir: z
    .string()
    .min(1)
    .default('./data')
    .describe(
      'Spool, keys, events and the generated TLS pair live here; created 0700, its files 0600 whatever the umask',
    ),
  listen: listenSchema,
  relay: relaySchema,
  tls: tlsSchema,
  smtp: smtpSchema,
  delivery: deliverySchema,
  bounces: bouncesSection,
  admin: adminSection,
  store: storeSection,
  log: logSchema,
  auth: authSection,
  policy: policySection,
  milter: milterSection,
  tracking: trackingSection,
  http: httpSection,
  webhooks: webhooksSection,
  events: eventsSection,
  metrics: metricsSection,
  console: consoleSection,
  pickup: pickupSection,
  transmissions: transmissionsSection,
});

/** The validated configuration, durations in milliseconds. */
export type Config = z.output<typeof configSchema>;
