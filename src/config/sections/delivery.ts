/**
 * The outbound options of the `delivery` section that the delivery-engine issue adds: the
 * transport map, per-destination shaping and TLS overrides, source-address pools (`ip_pool`),
 * trusted CAs for `tls: require`, retry jitter and DKIM keys. Spread into the delivery section
 * in schema.ts, so the older options keep their place and names.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

export const outboundTls = z
  .enum(['none', 'may', 'require'])
  .describe(
    'Outbound STARTTLS: "may" uses it when offered (unverified, opportunistic); "require" needs it with a verified certificate; "none" never',
  );

/** Limits shared by the defaults and each per-destination override. */
const limits = {
  max_connections: z.number().int().positive().describe('Concurrent deliveries (connections in use)'),
  max_messages_per_connection: z.number().int().positive().describe('Messages over one connection'),
  max_messages_per_minute: z.number().int().positive().describe('Messages started per minute'),
};

const destinationOverride = z.strictObject({
  max_connections: limits.max_connections.optional(),
  max_messages_per_connection: limits.max_messages_per_connection.optional(),
  max_messages_per_minute: limits.max_messages_per_minute.optional(),
  tls: outboundTls.optional(),
});

const domainKey = z
  .string()
  .regex(
    /^\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/,
    'expected a domain name or ".domain" for its subdomains',
  );

const sourceAddress = z.string().refine((v) => isIP(v) !== 0, 'expected an IPv4 or IPv6 address');

const dkimKey = z.strictObject({
  domain: z.string().min(1).describe('Sender domain (From: header) signed with this key; "*" for any'),
  selector: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'expected a DNS label such as s2026')
    .describe('Selector: the public key is published at SELECTOR._domainkey.DOMAIN'),
  key_file: z.string().min(1).describe('PEM private key file (RSA or Ed25519)'),
  signing_domain: z.string().nullable().default(null).describe('d= of the signature. null: domain'),
});

export const outboundDeliveryOptions = {
  transport_maps: z
    .string()
    .nullable()
    .default(null)
    .describe(
      'Postfix transport(5) file: "example.com smtp:[10.0.0.5]:25", ".example.com" for subdomains, "*" for all. Wins over relayhost. null: none',
    ),
  max_messages_per_minute: z
    .number()
    .int()
    .positive()
    .nullable()
    .default(null)
    .describe(
      'Messages started per minute to one destination domain, and to one MX host set. null: no limit',
    ),
  destinations: z
    .record(domainKey, destinationOverride)
    .default({})
    .describe(
      'Per-destination overrides {max_connections, max_messages_per_connection, max_messages_per_minute, tls}: keyed by recipient domain (".domain" for subdomains) or by MX host name (shared budget of every domain on it)',
    ),
  tls_ca_file: z
    .string()
    .nullable()
    .default(null)
    .describe('PEM file of CAs trusted under tls: require (added to the system CAs). null: system CAs only'),
  ip_pools: z
    .record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), z.array(sourceAddress).min(1))
    .default({})
    .describe(
      'Named pools of local source addresses {name: [addresses]}, chosen by X-MSYS-API options.ip_pool; "default" for mail without one. {}: the system picks',
    ),
  retry_jitter: z
    .number()
    .min(0)
    .max(1)
    .default(0.1)
    .describe(
      'Each retry wait is varied by up to this fraction either way, so retries do not come in bursts',
    ),
  dkim: z
    .array(dkimKey)
    .default([])
    .describe(
      'DKIM keys [{domain, selector, key_file}]: relaxed/relaxed, rsa-sha256 or ed25519-sha256 by key type',
    ),
};

export type DestinationOverride = z.output<typeof destinationOverride>;
export type DkimKeyConfig = z.output<typeof dkimKey>;
