/**
 * The milter service assembled from config: core's key check and relay rule, the event store and
 * the tracking signer wired into one SluiceFilter per MTA connection, listening on milter.listen.
 * `sluice milter` runs it alone; `sluice serve` runs it beside the MTA when milter.with_serve is
 * on, sharing its stores and signer. The caller owns the stores and closes them after stop().
 */
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { Limits } from '../core/limits.js';
import { PolicyService } from '../core/policy.js';
import { RelayPolicy } from '../core/relay-policy.js';
import type { UpstreamIdSigner } from '../core/upstream-id.js';
import type { Logger } from '../log.js';
import { EmbeddedCounterStore } from '../store/embedded/counters.js';
import { EventGroupCommit } from '../store/event-group-commit.js';
import type { ApiKeyRecord, EventStore } from '../store/types.js';
import type { TokenSigner } from '../tracking/token.js';
import { SluiceFilter } from './filter.js';
import { type MilterServer, startMilterServer } from './server.js';

export interface MilterServiceDeps {
  config: Config;
  findKey: (id: string) => Promise<ApiKeyRecord | null>;
  events: EventStore;
  signer: TokenSigner;
  /** Signs the X-Sluice-Message-ID it adds (core/upstream-id.ts). */
  idSigner: UpstreamIdSigner;
  log: Logger;
}

const NO_LIMITS = { key: [], sender_domain: [], client_address: [] };
/** A tracked body larger than this waits for EOM on disk (data_dir/tmp/milter), not in memory. */
const BODY_MEMORY_LIMIT = 1_048_576;

export interface MilterService extends MilterServer {
  /**
   * A reload: relay networks, tracking base URL, part size limit and defaults for the messages
   * that start from now on (milter.unauthenticated is read from the section at each connection;
   * the signers are their owner's to rekey).
   */
  reload(next: Config): void;
}

export async function startMilterService(deps: MilterServiceDeps): Promise<MilterService> {
  const { config, log } = deps;
  const section = config.milter;
  if (!section.listen) throw new Error('milter.listen is null: there is nothing to listen on');
  // Only the key check is asked of the policy here (stage "other"): limits stay sluice policy's.
  const policy = new PolicyService(deps.findKey, new Limits(new EmbeddedCounterStore(), NO_LIMITS, 60_000), {
    refuseUnauthenticated: false,
  });
  const relay = new RelayPolicy(config.relay);
  const tracking = {
    signer: deps.signer,
    baseUrl: config.tracking.base_url.replace(/\/+$/, ''),
    maxPartSize: config.tracking.max_html_part_size,
    defaults: { open: config.tracking.open, click: config.tracking.click },
    spillDir: path.join(config.data_dir, 'tmp', 'milter'),
    memoryLimit: BODY_MEMORY_LIMIT,
  };
  // One batch for every connection: EOMs of different MTA connections share a commit.
  const batch = new EventGroupCommit(deps.events, 500);
  const server = await startMilterServer(
    {
      listen: section.listen,
      socketMode: Number.parseInt(section.socket_mode, 8),
      maxPacketSize: section.max_packet_size,
      idleTimeoutMs: section.idle_timeout,
      messageIdleTimeoutMs: section.message_idle_timeout,
      maxConnections: section.max_connections,
      maxConnectionsPerPeer: section.max_connections_per_peer,
      progressIntervalMs: section.progress_interval,
    },
    () =>
      new SluiceFilter({
        policy,
        events: deps.events,
        record: (events) => batch.record(events),
        relay,
        unauthenticated: section.unauthenticated,
        maxHeaderSize: section.max_header_size,
        findKey: deps.findKey,
        tracking,
        idSigner: deps.idSigner,
      }),
    log,
  );
  return {
    address: server.address,
    reload(next) {
      relay.update(next.relay);
      tracking.baseUrl = next.tracking.base_url.replace(/\/+$/, '');
      tracking.maxPartSize = next.tracking.max_html_part_size;
      tracking.defaults = { open: next.tracking.open, click: next.tracking.click };
    },
    async stop() {
      await server.stop();
      batch.flush();
    },
  };
}
