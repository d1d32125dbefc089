/**
 * The configuration schema: the single source of truth for every option, its default and its
 * documentation. The loader validates against it, and contrib/sluice.example.yaml is generated
 * from it, so docs and behaviour cannot drift apart. Every option has a default: no file is needed.
 */
import { z } from 'zod';
import { adminSection } from './sections/admin.js';
import { authSection } from './sections/auth.js';
import { bouncesSection } from './sections/bounces.js';
import { outboundDeliveryOptions, outboundTls } from './sections/delivery.js';
import { eventsSection } from './sections/events.js';
import { httpSection, webhooksSection } from './sections/http.js';
import { milterSection } from './sections/milter.js';
import { policySection } from './sections/policy.js';
import { storeSection } from './sections/store.js';
import { trackingSection } from './sections/tracking.js';
import { transmissionsSection } from './sections/transmissions.js';
import { cidr, duration, listener } from './validators.js';

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
    max_message_size: z
      .number()
      .int()
      .positive()
      .default(26_214_400)
      .describe('Largest message accepted, in bytes (advertised with SIZE; larger gets 552 5.3.4)'),
    max_recipients: z
      .number()
      .int()
      .positive()
      .default(1000)
      .describe('Recipients per message (more get 452 4.5.3)'),
    max_header_size: z
      .number()
      .int()
      .positive()
      .default(102_400)
      .describe('Largest header section accepted, in bytes (larger gets 552 5.3.4)'),
    max_line_length: z
      .number()
      .int()
      .positive()
      .default(65_536)
      .describe('Longest message line accepted, in bytes (longer gets 552 5.3.4; RFC 5322 asks for 998)'),
    max_command_length: z
      .number()
      .int()
      .min(512)
      .default(4096)
      .describe('Longest SMTP command line, in bytes'),
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
    idle_timeout: duration.prefault('5m').describe('Close a connection idle this long (421 4.4.2)'),
    allow_insecure_auth: z
      .boolean()
      .default(false)
      .describe('Allow AUTH without STARTTLS (only for testing or a trusted local network)'),
    auth_failure_delay: duration
      .prefault('1s')
      .describe('First delay after a failed AUTH from an address; doubles with each failure, up to 30s'),
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
    connection_idle_timeout: duration
      .prefault('10s')
      .describe('Close an idle outbound connection after this long'),
    connect_timeout: duration.prefault('30s').describe('Give up connecting to a next hop after this long'),
    command_timeout: duration
      .prefault('5m')
      .describe('Give up waiting for a reply from a next hop after this long'),
    tls: outboundTls.default('may'),
    retry_schedule: z
      .array(duration)
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
  })
  .prefault({});

export const configSchema = z.strictObject({
  data_dir: z
    .string()
    .min(1)
    .default('./data')
    .describe('Spool, keys, events and the generated TLS pair live here'),
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
  transmissions: transmissionsSection,
});

/** The validated configuration, durations in milliseconds. */
export type Config = z.output<typeof configSchema>;
