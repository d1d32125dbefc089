/**
 * The delivery engine's parts as the `delivery` and `bounces` sections (and
 * transmissions.sandbox_relay) describe them: built once when `sluice serve` starts and again by
 * a reload, so both read the options the same way. The
 * builders read the files the options name (transport map, CA file, DKIM keys) and throw when one
 * cannot be read, naming the option (OptionError): `sluice serve` then exits 78 saying which, and
 * a reload refuses the new configuration as a whole.
 */
import { readFileSync } from 'node:fs';
import { usingOption } from '../config/errors.js';
import type { Config } from '../config/schema.js';
import { bounceRulesWith } from './bounce-rules.js';
import { DkimSigner } from './dkim.js';
import { IpPools } from './ip-pools.js';
import type { PoolOptions } from './pool.js';
import type { DnsResolver } from './resolver.js';
import { parseRelayHost, Router } from './route.js';
import { ShapingPolicy } from './shaping.js';
import { TransportMap } from './transport-map.js';

export interface DeliveryParts {
  router: Router;
  /** Where options.sandbox mail goes (transmissions.sandbox_relay); null: nowhere, it is dropped. */
  sandboxRouter: Router | null;
  pool: PoolOptions;
  policy: ShapingPolicy;
  ipPools: IpPools;
  dkim: DkimSigner | null;
  queue: {
    maxConcurrent: number;
    retrySchedule: number[];
    retryJitter: number;
    maxLifetime: number;
    bounceRules: ReturnType<typeof bounceRulesWith>;
  };
}

export async function deliveryParts(
  config: Config,
  resolver: DnsResolver,
  hostname: string,
): Promise<DeliveryParts> {
  const { delivery } = config;
  const relayhost = delivery.relayhost ? parseRelayHost(delivery.relayhost, delivery.smtp_port) : null;
  const transportMaps = delivery.transport_maps;
  const transportMap = transportMaps
    ? await usingOption('delivery.transport_maps', transportMaps, () =>
        TransportMap.fromFile(transportMaps, delivery.smtp_port),
      )
    : null;
  const caFile = delivery.tls_ca_file;
  const ca = caFile
    ? await usingOption('delivery.tls_ca_file', caFile, () => readFileSync(caFile, 'utf8'))
    : undefined;
  const dkim =
    delivery.dkim.length > 0
      ? await usingOption('delivery.dkim', delivery.dkim.map((k) => k.key_file).join(', '), () =>
          DkimSigner.fromConfig(delivery.dkim),
        )
      : null;
  const sandboxRelay = config.transmissions.sandbox_relay;
  return {
    router: new Router(resolver, delivery.smtp_port, relayhost, transportMap),
    sandboxRouter: sandboxRelay
      ? new Router(resolver, delivery.smtp_port, parseRelayHost(sandboxRelay, delivery.smtp_port))
      : null,
    pool: {
      maxPerHop: delivery.max_connections_per_destination,
      maxMessages: delivery.max_messages_per_connection,
      idleMs: delivery.connection_idle_timeout,
      connectMs: delivery.connect_timeout,
      commandMs: delivery.command_timeout,
      heloName: hostname,
      tls: delivery.tls,
      ca,
    },
    policy: new ShapingPolicy(
      {
        maxConnections: delivery.max_connections_per_destination,
        maxMessagesPerConnection: delivery.max_messages_per_connection,
        maxPerMinute: delivery.max_messages_per_minute,
      },
      delivery.destinations,
    ),
    ipPools: new IpPools(delivery.ip_pools),
    dkim,
    queue: {
      maxConcurrent: delivery.max_connections,
      retrySchedule: delivery.retry_schedule,
      retryJitter: delivery.retry_jitter,
      maxLifetime: delivery.max_queue_lifetime,
      bounceRules: bounceRulesWith(config.bounces.rules),
    },
  };
}
