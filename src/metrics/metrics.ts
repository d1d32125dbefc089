/**
 * Prometheus metrics of one `sluice serve` (prom-client), in a registry of its own (no global
 * state): queue depth by state (read from the queue when scraped), deliveries, deferrals and
 * bounces by destination domain and bounce class (counted from the events as they are recorded),
 * policy rejections, open outbound connections (busy and idle), and the injection latency histogram (DATA to 250).
 * Domain labels are capped (MAX_DOMAINS distinct values, then "other") so a flood of recipient
 * domains cannot grow the registry without bound.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { SluiceEvent } from '../core/events.js';

const MAX_DOMAINS = 500;

export interface MetricsSources {
  /** Messages in the queue by state (ready, deferred, running, held). */
  queueDepth(): Record<string, number>;
  /** Open outbound connections. */
  poolOpen(): number;
  /** Open outbound connections held by a delivery or idle, and next hops remembered. */
  poolUsage?(): { busy: number; idle: number; hops: number };
}

export class SluiceMetrics {
  readonly registry = new Registry();
  private readonly domains = new Set<string>();
  private readonly deliveries: Counter<'domain'>;
  private readonly deferrals: Counter<'domain' | 'bounce_class'>;
  private readonly bounces: Counter<'domain' | 'bounce_class'>;
  private readonly rejections: Counter<'error_code'>;
  private readonly injections: Counter;
  readonly injectLatency: Histogram;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'sluice_' });
    new Gauge({
      name: 'sluice_queue_messages',
      help: 'Messages in the queue by state',
      labelNames: ['state'],
      registers,
      collect() {
        const depth = sources.queueDepth();
        for (const state of ['ready', 'deferred', 'running', 'held']) this.set({ state }, depth[state] ?? 0);
      },
    });
    new Gauge({
      name: 'sluice_outbound_connections_open',
      help: 'Open outbound SMTP connections (all next hops)',
      registers,
      collect() {
        this.set(sources.poolOpen());
      },
    });
    if (sources.poolUsage) {
      const usage = sources.poolUsage.bind(sources);
      new Gauge({
        name: 'sluice_outbound_connections',
        help: 'Open outbound SMTP connections by state: busy (carrying a message) or idle (kept for reuse)',
        labelNames: ['state'],
        registers,
        collect() {
          const { busy, idle } = usage();
          this.set({ state: 'busy' }, busy);
          this.set({ state: 'idle' }, idle);
        },
      });
      new Gauge({
        name: 'sluice_outbound_hops',
        help: 'Next hops (address, port, source address, TLS policy) the connection pool remembers',
        registers,
        collect() {
          this.set(usage().hops);
        },
      });
    }
    this.injections = new Counter({
      name: 'sluice_injections_total',
      help: 'Recipients accepted',
      registers,
    });
    this.deliveries = new Counter({
      name: 'sluice_deliveries_total',
      help: 'Recipients delivered, by destination domain',
      labelNames: ['domain'],
      registers,
    });
    this.deferrals = new Counter({
      name: 'sluice_deferrals_total',
      help: 'Delivery attempts deferred (delay events), by destination domain and bounce class',
      labelNames: ['domain', 'bounce_class'],
      registers,
    });
    this.bounces = new Counter({
      name: 'sluice_bounces_total',
      help: 'Recipients bounced, by destination domain and bounce class',
      labelNames: ['domain', 'bounce_class'],
      registers,
    });
    this.rejections = new Counter({
      name: 'sluice_policy_rejections_total',
      help: 'Recipients refused by policy (e.g. suppressed), by SMTP code',
      labelNames: ['error_code'],
      registers,
    });
    this.injectLatency = new Histogram({
      name: 'sluice_inject_latency_seconds',
      help: 'SMTP injection latency: from the DATA command to the 250 reply',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
  }

  /** Counts one recorded event. */
  count(event: SluiceEvent): void {
    const domain = this.domainLabel(String(event.routing_domain ?? ''));
    const bounceClass = String(event.bounce_class ?? '');
    switch (event.type) {
      case 'injection':
        this.injections.inc();
        break;
      case 'delivery':
        this.deliveries.inc({ domain });
        break;
      case 'delay':
        this.deferrals.inc({ domain, bounce_class: bounceClass });
        break;
      case 'bounce':
        this.bounces.inc({ domain, bounce_class: bounceClass });
        break;
      case 'policy_rejection':
        this.rejections.inc({ error_code: String(event.error_code ?? '') });
        break;
    }
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private domainLabel(domain: string): string {
    if (this.domains.has(domain)) return domain;
    if (this.domains.size >= MAX_DOMAINS) return 'other';
    this.domains.add(domain);
    return domain;
  }
}
