/**
 * A reload of `sluice serve` (SIGHUP): what it applies while running and how. prepare() reads
 * everything the new configuration names (TLS pair, tracking keys, transport map, CA file, DKIM
 * keys) and throws if any cannot be had, before anything changes; the commit it returns cannot
 * fail and applies, for new connections and new deliveries: relay networks and require_auth, TLS
 * certificate and key (next STARTTLS), the SMTP limits, routing, connection and shaping settings,
 * retries, bounce handling, tracking keys, link lifetime, base URL and defaults, the sandbox
 * relay and the transmissions limits. The configuration
 * object itself is updated in place by the caller (config/reload.ts), which covers what doors read
 * per message or per query (message limits, tracking defaults, smtp_unavailable, the Metrics
 * API's watched domains).
 */
import type { SMTPServer } from 'smtp-server';
import type { ReloadSpec } from './config/reload.js';
import type { Config } from './config/schema.js';
import type { RelayPolicy } from './core/relay-policy.js';
import type { UpstreamIdSigner } from './core/upstream-id.js';
import type { Deliverer } from './delivery/deliver.js';
import { deliveryParts } from './delivery/from-config.js';
import type { ConnectionPool } from './delivery/pool.js';
import type { MessageRenderer } from './delivery/render.js';
import type { DnsResolver } from './delivery/resolver.js';
import type { MilterService } from './milter/service.js';
import type { BounceHandler } from './queue/bounce-handler.js';
import type { QueueManager } from './queue/manager.js';
import { loadTlsPair } from './tls/certificate.js';
import { loadTrackingKeys } from './tracking/keys.js';
import type { TokenSigner } from './tracking/token.js';

export const SERVE_RELOAD: ReloadSpec = {
  // Everything but the sections of `sluice auth` and `sluice policy`: a section added later is
  // then at least named in the restart warning, never changed in the file and silently ignored.
  uses: [''],
  except: ['auth', 'policy'],
  live: [
    'log.level',
    'relay',
    'tls',
    'smtp',
    'delivery',
    'bounces',
    'tracking',
    'milter.unauthenticated',
    'pickup.authorized_users',
    // max_schedule_ahead and generation_chunk are read per request and per chunk; the sandbox
    // relay is rebuilt with the delivery parts.
    'transmissions',
    'metrics.watched_domains',
  ],
  restart: [
    'smtp.hostname',
    'smtp.auth_failure_delay',
    // Read when the listeners and the key caches are built.
    'smtp.key_cache',
    'smtp.greet_pause',
    'smtp.greet_pause_networks',
    'tracking.trusted_proxies',
  ],
  // metrics.rollups and the retentions are read when the stores open: a restart applies them.
};

export interface ServeParts {
  hostname: string;
  resolver: DnsResolver;
  listeners: Array<{ kind: 'smtp' | 'submission'; server: SMTPServer }>;
  relay: RelayPolicy;
  pool: ConnectionPool;
  deliverer: Deliverer;
  queue: QueueManager;
  renderer: MessageRenderer;
  bounces: BounceHandler;
  signer: TokenSigner;
  idSigner: UpstreamIdSigner;
  milter: MilterService | null;
}

export async function prepareServeReload(next: Config, parts: ServeParts): Promise<() => void> {
  const tls = await loadTlsPair(next.tls, next.data_dir, parts.hostname);
  const trackingKeys = await loadTrackingKeys(next.tracking.keys, next.data_dir);
  const delivery = await deliveryParts(next, parts.resolver, parts.hostname);
  return () => {
    parts.relay.update(next.relay);
    for (const { kind, server } of parts.listeners) {
      const options = server.options as SMTPServer['options'] & Record<string, unknown>;
      options.size = next.smtp.max_message_size;
      options.maxClients = next.smtp.max_connections;
      options.maxRecipients = next.smtp.max_recipients;
      options.maxCommandLength = next.smtp.max_command_length;
      options.socketTimeout = next.smtp.idle_timeout;
      options.allowInsecureAuth = next.smtp.allow_insecure_auth;
      options.authOptional = !parts.relay.requiresAuth(kind);
      server.updateSecureContext({ key: tls.key, cert: tls.cert });
    }
    parts.pool.reconfigure(delivery.pool);
    parts.deliverer.reconfigure(delivery.router, delivery.policy, delivery.ipPools, delivery.sandboxRouter);
    parts.queue.configure(delivery.queue);
    parts.signer.setKeys(trackingKeys.keys, next.tracking.link_ttl);
    parts.idSigner.setKeys(trackingKeys.keys);
    parts.renderer.reconfigure(
      {
        baseUrl: next.tracking.base_url.replace(/\/+$/, ''),
        signer: parts.signer,
        maxPartSize: next.tracking.max_html_part_size,
      },
      delivery.dkim,
    );
    parts.bounces.options.dsn = next.bounces.dsn;
    parts.bounces.options.suppressHardBounces = next.bounces.suppress_hard_bounces;
    parts.milter?.reload(next);
  };
}
