/**
 * The relay bench's workloads, each identical for Sluice and Postfix:
 * - `2k`: N messages of 2 KB to one recipient, relayed to one smtp-sink (the foundation workload),
 *   injected by smtp-source (or by the Node injector with --injector node, which also measures
 *   inject latency);
 * - `fanout`: N messages of 2 KB to 50 recipients each, 5 in each of 10 destination domains,
 *   routed by one Postfix-syntax transport map (used verbatim by both MTAs) to 10 smtp-sinks, one
 *   per domain, so both MTAs make 10 transactions per message. Injected by the Node injector.
 * Each runs in either session pattern (`start({ reconnect })`): sessions reused, or a new
 * connection per message. A workload owns its sinks: `arrived()` waits until every sink has its
 * share of the messages injected since `start`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { type SmtpSink, startSmtpSink } from '../test/harness/smtp-sink.js';
import { benchMessage, injectWithNode } from './relay-injector.js';

export const FROM = 'bench@sluice-bench.example';
const FANOUT_DOMAINS = 10;
const FANOUT_PER_DOMAIN = 5;

export interface WorkloadRun {
  /** Resolves with inject latencies (ms), or null when the injector cannot measure them. */
  inject(port: number): Promise<number[] | null>;
  /** Resolves with the performance.now() instant the last expected message reached its sink. */
  arrived(): Promise<number>;
  /** Called once the MTA has stopped: exactly the expected count, no loss and no duplicates. */
  check(system: string): void;
}

export interface Workload {
  name: string;
  title: string;
  messages: number;
  /** Messages the sinks receive per injected message (one per destination). */
  transactionsPerMessage: number;
  postfix: { relayhost?: string; extraMainCf: Record<string, string> };
  sluice: Record<string, string>;
  start(options: { timeoutMs: number; sessions: number; reconnect: boolean }): WorkloadRun;
  stop(): Promise<void>;
}

export interface WorkloadOptions {
  messages: number;
  size: number;
  sessions: number;
  injector: 'smtp-source' | 'node';
  scratch: string;
}

export async function singleWorkload(
  options: WorkloadOptions,
  smtpSource: (port: number, reconnect: boolean) => Promise<void>,
): Promise<Workload> {
  const sink = await startSmtpSink({});
  const body = benchMessage(0, options.size, FROM);
  return {
    name: '2k',
    title:
      `${options.messages} messages of ${options.size} B to 1 recipient over ${options.sessions} sessions` +
      ` (${options.injector})`,
    messages: options.messages,
    transactionsPerMessage: 1,
    postfix: { relayhost: `[127.0.0.1]:${sink.port}`, extraMainCf: {} },
    sluice: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}` },
    start: ({ timeoutMs, reconnect }) => {
      const target = sink.count() + options.messages;
      return {
        async inject(port) {
          if (options.injector === 'smtp-source') {
            await smtpSource(port, reconnect);
            return null;
          }
          return await injectWithNode({
            port,
            reconnect,
            sessions: options.sessions,
            messages: options.messages,
            rcpts: () => ['sink@sluice-bench.example'],
            body: () => body,
            from: FROM,
            timeoutMs,
          });
        },
        arrived: () => sink.waitForCount(target, timeoutMs),
        check(system) {
          if (sink.count() !== target)
            throw new Error(`${system}: sink counted ${sink.count()}, expected exactly ${target}`);
        },
      };
    },
    stop: () => sink.stop(),
  };
}

export async function fanoutWorkload(options: WorkloadOptions): Promise<Workload> {
  const sinks: SmtpSink[] = [];
  for (let d = 0; d < FANOUT_DOMAINS; d++) sinks.push(await startSmtpSink({}));
  const domains = sinks.map((_, d) => `d${d}.sluice-bench.example`);
  const transport = path.join(options.scratch, 'transport');
  writeFileSync(
    transport,
    `# bench/relay fanout routes: one sink per domain\n${domains
      .map((domain, d) => `${domain} smtp:[127.0.0.1]:${sinks[d]!.port}`)
      .join('\n')}\n`,
    { mode: 0o644 },
  );
  const rcpts = (i: number) =>
    domains.flatMap((domain) => Array.from({ length: FANOUT_PER_DOMAIN }, (_, r) => `m${i}r${r}@${domain}`));
  const body = benchMessage(0, options.size, FROM);
  return {
    name: 'fanout',
    title:
      `${options.messages} messages of ${options.size} B to ${FANOUT_DOMAINS * FANOUT_PER_DOMAIN} recipients ` +
      `(${FANOUT_PER_DOMAIN} in each of ${FANOUT_DOMAINS} domains, one sink each) over ${options.sessions} sessions (node)`,
    messages: options.messages,
    transactionsPerMessage: FANOUT_DOMAINS,
    postfix: { extraMainCf: { transport_maps: `texthash:${transport}` } },
    sluice: { 'delivery.transport_maps': transport },
    start: ({ timeoutMs, sessions, reconnect }) => {
      const targets = sinks.map((sink) => sink.count() + options.messages);
      return {
        inject: (port) =>
          injectWithNode({
            port,
            reconnect,
            sessions,
            messages: options.messages,
            rcpts,
            body: () => body,
            from: FROM,
            timeoutMs,
          }),
        arrived: async () =>
          Math.max(...(await Promise.all(sinks.map((sink, d) => sink.waitForCount(targets[d]!, timeoutMs))))),
        check(system) {
          sinks.forEach((sink, d) => {
            if (sink.count() !== targets[d])
              throw new Error(
                `${system}: sink of ${domains[d]} counted ${sink.count()}, expected exactly ${targets[d]}`,
              );
          });
        },
      };
    },
    stop: async () => {
      await Promise.all(sinks.map((sink) => sink.stop()));
    },
  };
}
