/**
 * `sluice serve`, assembled: stores, core services, the spool and queue manager (recovering
 * whatever an earlier run left), delivery, the SMTP listeners, local submission (pickup/), and
 * the milter when
 * milter.with_serve is on (same stores and tracking keys). stop() is the SIGTERM path:
 * stop accepting, let transactions in flight finish, write the opens and clicks the tracking
 * endpoints queued (BatchedEventStore), stop delivery attempts, close the stores.
 */
import { hostname as osHostname } from 'node:os';
import type { SMTPServer } from 'smtp-server';
import { type AdminServer, startAdminServer } from './admin/server.js';
import { adminSocketPath } from './admin/socket-path.js';
import { usingOption } from './config/errors.js';
import type { Config } from './config/schema.js';
import { AuthThrottle } from './core/auth-throttle.js';
import { ConsoleSessions } from './core/console-sessions.js';
import type { SluiceEvent } from './core/events.js';
import { KeyService } from './core/keys.js';
import { MetricsService } from './core/metrics/query.js';
import { NetworkSet } from './core/networks.js';
import { type ListenerKind, RelayPolicy } from './core/relay-policy.js';
import { UpstreamIdSigner } from './core/upstream-id.js';
import { Deliverer } from './delivery/deliver.js';
import { DestinationStatus } from './delivery/destination-status.js';
import { deliveryParts } from './delivery/from-config.js';
import { ConnectionPool } from './delivery/pool.js';
import { MessageRenderer } from './delivery/render.js';
import { type DnsResolver, systemResolver } from './delivery/resolver.js';
import { Shaper } from './delivery/shaping.js';
import { type HttpServer, startHttpServer } from './http/server.js';
import type { Logger } from './log.js';
import { SluiceMetrics } from './metrics/metrics.js';
import { type MilterService, startMilterService } from './milter/service.js';
import { pickupDir } from './pickup/dir.js';
import { type PickupServer, startPickupServer } from './pickup/server.js';
import { BounceHandler } from './queue/bounce-handler.js';
import { QueueControl } from './queue/control.js';
import { QueueManager } from './queue/manager.js';
import { Spool } from './queue/spool.js';
import { prepareServeReload, type ServeParts } from './serve-reload.js';
import { createSmtpListener } from './smtp/listener.js';
import { closeGracefully } from './smtp/shutdown.js';
import { CachingKeyStore } from './store/cached-keys.js';
import { BatchedEventStore } from './store/embedded/batched-events.js';
import { EmbeddedEventStore } from './store/embedded/events.js';
import { ThreadedEventStore } from './store/embedded/threaded-events.js';
import { EventGroupCommit } from './store/event-group-commit.js';
import { ExpiringKeyCache } from './store/expiring-keys.js';
import { openStores } from './store/open.js';
import { startEventRetention, startMetricsRetention } from './store/retention.js';
import { loadTlsPair } from './tls/certificate.js';
import { loadTrackingKeys } from './tracking/keys.js';
import { TokenSigner } from './tracking/token.js';
import { TransmissionScheduler } from './transmissions/scheduler.js';
import { observedCommits, observedEvents, webhookDispatcher } from './webhooks/dispatcher.js';

export interface ServerOptions {
  resolver?: DnsResolver;
}

export interface RunningServer {
  queue: QueueManager;
  spool: Spool;
  /** Bound addresses by listener, e.g. { smtp: "127.0.0.1:2525" }. */
  addresses: Partial<Record<ListenerKind | 'http' | 'milter', string>>;
  /** Signs and verifies tracking tokens (the keys from config or data_dir/tracking). */
  signer: TokenSigner;
  /**
   * A reload (serve-reload.ts): reads what `next` names, throws if anything cannot be had;
   * the function it returns applies it.
   */
  prepareReload(next: Config): Promise<() => void>;
  stop(): Promise<void>;
}

export async function startServer(
  config: Config,
  log: Logger,
  options: ServerOptions = {},
): Promise<RunningServer> {
  const hostname = config.smtp.hostname ?? osHostname();
  const stores = await openStores(config, log, { service: true });
  // cached_keys: while the store is away, keys this node has seen still authenticate on SMTP.
  const keyStore =
    config.store.smtp_unavailable === 'cached_keys' ? new CachingKeyStore(stores.keys) : stores.keys;
  const keys = new KeyService(keyStore);
  // SMTP AUTH comes with every connection of an app that connects per message: a key found by its
  // hash is reused for smtp.key_cache instead of read from the store each time.
  const smtpKeys = new KeyService(keyStore, { cacheMs: config.smtp.key_cache });
  // An authenticated session's key is checked again at each MAIL: read at most once per key_cache.
  const keyCache = new ExpiringKeyCache((id) => keys.get(id), config.smtp.key_cache);
  const dispatcher = webhookDispatcher(config.webhooks, stores.webhooks, log);
  // Every event also counts in the metrics; the queue depth is read from the queue when scraped.
  let control: QueueControl | null = null;
  const metrics = new SluiceMetrics({
    queueDepth: () => control?.depth() ?? {},
    poolOpen: () => pool.size,
    poolUsage: () => pool.usage(),
  });
  // Every event recorded by this server (doors, delivery, tracking) is also offered to webhooks.
  const observe = (event: SluiceEvent) => {
    dispatcher.offer(event);
    metrics.count(event);
  };
  const events = observedEvents(stores.events, observe);
  const spool = new Spool(config.data_dir, {
    onError: (error) =>
      log.error({ err: error }, 'spool writing thread died; its messages in progress are refused'),
  });
  await usingOption('data_dir', config.data_dir, () => spool.init());

  const trackingKeys = await usingOption('tracking.keys', config.tracking.keys, () =>
    loadTrackingKeys(config.tracking.keys, config.data_dir),
  );
  if (trackingKeys.generated) log.info({ file: trackingKeys.generated }, 'generated a tracking signing key');
  const signer = new TokenSigner(trackingKeys.keys, config.tracking.link_ttl);
  const idSigner = new UpstreamIdSigner(trackingKeys.keys);
  const resolver = options.resolver ?? systemResolver();
  const parts = await deliveryParts(config, resolver, hostname);
  const renderer = new MessageRenderer(
    {
      baseUrl: config.tracking.base_url.replace(/\/+$/, ''),
      signer,
      maxPartSize: config.tracking.max_html_part_size,
    },
    log,
    parts.dkim,
  );
  const pool = new ConnectionPool(parts.pool);
  const shaping = { policy: parts.policy, shaper: new Shaper(), ipPools: parts.ipPools };
  // What delivery last saw per destination (host set, last reply), for the console's queue view.
  const destinationStatus = new DestinationStatus();
  const deliverer = new Deliverer(parts.router, pool, shaping, destinationStatus, parts.sandboxRouter);
  const bounces = new BounceHandler(spool, stores.suppressions, log, {
    dsn: config.bounces.dsn,
    suppressHardBounces: config.bounces.suppress_hard_bounces,
    hostname,
  });
  // On the embedded store, the queue's injection and delivery events are committed by a worker
  // thread too (each batch awaited, as before): the SQLite work leaves the loop that runs SMTP.
  let queueEvents: ThreadedEventStore | null = null;
  if (stores.events instanceof EmbeddedEventStore) {
    queueEvents = new ThreadedEventStore(config.data_dir, stores.events, (error, lost) =>
      log.error({ err: error, lost }, 'failed to record queue events'),
    );
    await queueEvents.ready();
  }
  const groupCommit = queueEvents
    ? new EventGroupCommit(observedCommits(queueEvents.commit.bind(queueEvents), observe))
    : undefined;
  const queue = new QueueManager(spool, deliverer, events, log, {
    groupCommit,
    ...parts.queue,
    onBounced: bounces.onBounced,
    renderer,
  });
  bounces.queue = queue;
  control = new QueueControl(queue, spool, events, log, bounces.onBounced);
  await dispatcher.start();
  const retention = startEventRetention(stores.events, config.events.retention, log);
  const metricsRetention = startMetricsRetention(stores.metrics, log);
  const recovered = await queue.recover();
  if (recovered > 0) log.info({ messages: recovered }, 'resuming spooled messages');
  // Stored transmissions (scheduled, or on a recipient list) are generated once the spool is
  // recovered: a generation interrupted by a crash finds the messages it had already spooled.
  const scheduler = new TransmissionScheduler(
    {
      config,
      hostname,
      spool,
      queue,
      events,
      suppressions: stores.suppressions,
      log,
      transmissions: stores.transmissions,
      templates: stores.templates,
      recipientLists: stores.recipientLists,
    },
    { retentionMs: config.events.retention },
  );
  scheduler.start();

  const tls = await usingOption('tls', config.tls.cert ?? `${config.data_dir}/tls`, () =>
    loadTlsPair(config.tls, config.data_dir, hostname),
  );
  if (tls.generated) log.info({ dir: `${config.data_dir}/tls` }, 'generated a self-signed TLS certificate');
  const deps = {
    config,
    hostname,
    spool,
    queue,
    events,
    log,
    keys: smtpKeys,
    findKey: (id: string) => keyCache.get(id),
    throttle: new AuthThrottle(config.smtp.auth_failure_delay),
    relay: new RelayPolicy(config.relay),
    tls,
    suppressions: stores.suppressions,
    metrics,
    idSigner,
  };

  const servers: SMTPServer[] = [];
  const listeners: ServeParts['listeners'] = [];
  const addresses: RunningServer['addresses'] = {};
  let http: HttpServer | null = null;
  let engagement: BatchedEventStore | null = null;
  let engagementWriter: ThreadedEventStore | null = null;
  const lostEngagement = (error: unknown, lost: number) =>
    log.error({ err: error, lost }, 'failed to record tracking events');
  let admin: AdminServer | null = null;
  let pickup: PickupServer | null = null;
  let ready = false;
  let milter: MilterService | null = null;
  try {
    // On the embedded store, opens and clicks are committed by a worker thread with its own SQLite
    // connection, so a commit or WAL checkpoint never holds up a redirect (ThreadedEventStore
    // states what a crash can lose: at most its in-flight bound, in practice one batch). Started
    // before any door opens, so serve's threads are the same on every start.
    if (config.listen.http && stores.events instanceof EmbeddedEventStore) {
      engagementWriter = new ThreadedEventStore(config.data_dir, stores.events, lostEngagement);
      await engagementWriter.ready();
    }
    const socket = adminSocketPath(config);
    if (socket) {
      admin = await usingOption('admin.socket', socket, () => startAdminServer(socket, control, log));
      log.info({ listener: 'admin', socket }, 'listening');
    }
    const pickupAt = pickupDir(config);
    if (pickupAt) {
      pickup = await startPickupServer(pickupAt, {
        config,
        hostname,
        spool,
        queue,
        events,
        suppressions: stores.suppressions,
        log,
      });
      log.info({ listener: 'pickup', socket: pickup.socket }, 'listening');
    }
    for (const kind of ['smtp', 'submission'] as const) {
      const address = config.listen[kind];
      if (!address) continue;
      const server = createSmtpListener(kind, deps);
      await usingOption(`listen.${kind}`, address, () => listen(server, address));
      servers.push(server);
      listeners.push({ kind, server });
      addresses[kind] = address;
      log.info({ listener: kind, address }, 'listening');
    }
    if (config.listen.http) {
      const options = {
        listen: config.listen.http,
        trustedProxies: config.tracking.trusted_proxies,
        limits: config.http,
      };
      // A metrics query first waits for this node's queued event writes, so it counts them.
      const settle = async () => {
        engagement?.flush();
        await Promise.all([
          engagementWriter?.settled(),
          queueEvents?.settled(),
          (stores.events as { flush?: () => Promise<void> }).flush?.(),
        ]);
      };
      const api = {
        config,
        hostname,
        keys,
        events,
        suppressions: stores.suppressions,
        webhooks: stores.webhooks,
        dispatcher,
        spool,
        queue,
        log,
        templates: stores.templates,
        recipientLists: stores.recipientLists,
        transmissions: stores.transmissions,
        scheduler,
        metrics: config.metrics.rollups
          ? new MetricsService(stores.metrics, {
              // Read per query: a reload (SIGHUP) applies a new list.
              watchedDomains: () => config.metrics.watched_domains,
              settle,
            })
          : null,
      };
      // Opens and clicks arrive at HTTP rates: they are written in batches (one transaction per
      // event-loop turn) rather than a commit each. A crash can lose the engagement events of
      // that instant (the redirect or pixel was already served); mail events stay immediate.
      engagement = new BatchedEventStore(
        engagementWriter ? observedEvents(engagementWriter, observe) : events,
        lostEngagement,
      );
      const health = config.admin.http_endpoints
        ? { metrics, ready: () => ready, networks: new NetworkSet(config.admin.http_networks) }
        : undefined;
      const consoleDeps = config.console.enabled
        ? {
            networks: new NetworkSet(config.admin.http_networks),
            sessions: new ConsoleSessions(keys, config.console.session_lifetime, config.console.max_sessions),
            throttle: new AuthThrottle(config.smtp.auth_failure_delay),
            keys,
            events,
            suppressions: stores.suppressions,
            webhooks: stores.webhooks,
            dispatcher,
            queue,
            control,
            spool,
            delivery: {
              stateOf: (domain: string) => destinationStatus.get(domain),
              waitingForShaping: (domain: string) => deliverer.waitingForShaping(domain),
            },
            log,
          }
        : undefined;
      const tracking = engagement;
      http = await usingOption('listen.http', options.listen, () =>
        startHttpServer(options, { signer, events: tracking, log, api, health, console: consoleDeps }),
      );
      addresses.http = http.address;
      log.info({ listener: 'http', address: http.address }, 'listening');
    }
    if (config.milter.with_serve && config.milter.listen) {
      const milterLog = log.child({ service: 'milter' });
      milter = await usingOption('milter.listen', config.milter.listen, () =>
        startMilterService({
          config,
          findKey: (id) => keys.get(id),
          events: stores.events,
          signer,
          idSigner,
          log: milterLog,
        }),
      );
      addresses.milter = milter.address;
      log.info({ listener: 'milter', address: milter.address }, 'listening');
    }
  } catch (error) {
    for (const server of servers) server.close();
    await http?.close();
    engagement?.close();
    await engagementWriter?.close();
    await admin?.close();
    await pickup?.close();
    await milter?.stop();
    await scheduler.stop();
    await dispatcher.stop();
    retention.stop();
    metricsRetention.stop();
    await queueEvents?.close();
    await spool.close();
    await stores.close();
    throw error;
  }

  ready = true;
  const reloadable: ServeParts = {
    hostname,
    resolver,
    listeners,
    relay: deps.relay,
    pool,
    deliverer,
    queue,
    renderer,
    bounces,
    signer,
    idSigner,
    milter,
  };
  return {
    queue,
    spool,
    addresses,
    signer,
    prepareReload: (next) => prepareServeReload(next, reloadable),
    async stop() {
      ready = false;
      await Promise.all([
        ...servers.map((server) => closeGracefully(server, 30_000)),
        http?.close(),
        admin?.close(),
        pickup?.close(),
        milter?.stop(),
      ]);
      // After the HTTP door has answered its last request: its queued opens and clicks.
      engagement?.close();
      await engagementWriter?.close();
      // A generation in progress stops after its current chunk; it resumes at the next start.
      await scheduler.stop();
      deliverer.close();
      await queue.stop(30_000);
      pool.closeAll();
      await dispatcher.stop();
      retention.stop();
      metricsRetention.stop();
      await queueEvents?.close();
      await spool.close();
      await stores.close();
    },
  };
}

function listen(server: SMTPServer, address: string): Promise<void> {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(at + 1));
  return new Promise((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, host, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
}
