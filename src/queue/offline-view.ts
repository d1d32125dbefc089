/**
 * The queue as its spool files show it, for `sluice queue list|summary|show` while no server
 * runs (Postfix's mailq reads the queue directory the same way): read-only, nothing is written,
 * created or removed, so it is also harmless if a server starts meanwhile. What only a running
 * server knows is absent: recipients are `queued` (or `held`), with no next attempt; attempts and
 * the last deferral reason come from the event store's `delay` events when it can be read.
 */
import path from 'node:path';
import type { EventStore } from '../store/types.js';
import { readDone, readEnvelope, spoolIds, spoolQueueDir } from './spool-read.js';
import { type DomainSummary, lastDeferrals, newestError, type QueuedMessage, summarise } from './view.js';

/** How many recent delay events `summary` reads for its last-error column. */
const SUMMARY_EVENTS = 10_000;

export class OfflineQueue {
  private readonly dir: string;

  constructor(
    dataDir: string,
    private readonly events: EventStore | null,
  ) {
    this.dir = spoolQueueDir(dataDir);
  }

  /** Oldest first, at most `limit`, with how many matched in all. */
  async list(filter: { domain?: string | undefined; limit?: number | undefined } = {}) {
    const { ids, held } = await this.ids();
    const limit = filter.limit ?? Number.POSITIVE_INFINITY;
    const messages: QueuedMessage[] = [];
    let total = 0;
    for (const id of ids) {
      const found = await this.read(id, held.has(id));
      if (!found) continue;
      if (filter.domain && !found.message.recipients.some((r) => r.domain === filter.domain)) continue;
      total++;
      if (messages.length < limit) messages.push(await this.withReasons(found));
    }
    return { messages, total };
  }

  /** By queue id, else the first message whose message id it is (an upstream milter's). */
  async show(id: string): Promise<QueuedMessage | null> {
    const { held } = await this.ids();
    const queueId = await this.queueIdOf(id);
    const found = queueId && (await this.read(queueId, held.has(queueId)));
    return found ? await this.withReasons(found) : null;
  }

  /** The queue id an id names: itself when its file exists, else the first with that message id. */
  async queueIdOf(id: string): Promise<string | null> {
    const { ids } = await this.ids();
    if (ids.includes(id)) return id;
    for (const queueId of ids) {
      const read = await readEnvelope(path.join(this.dir, queueId), queueId).catch(() => null);
      if (read?.envelope.facts.message_id === id) return queueId;
    }
    return null;
  }

  /**
   * By domain, as a server's summary; the last error of each domain from the most recent
   * SUMMARY_EVENTS delay events (one read, not one per message).
   */
  async summary(): Promise<DomainSummary[]> {
    const { ids, held } = await this.ids();
    const reasons = new Map<string, string>();
    if (this.events) {
      const delays = await this.events.search({ types: ['delay'], limit: SUMMARY_EVENTS }).catch(() => []);
      // Newest first: the first reason seen for a message and recipient is its last.
      for (const event of delays) {
        const key = `${event.message_id} ${event.rcpt_to}`;
        if (!reasons.has(key)) reasons.set(key, String(event.raw_reason ?? ''));
      }
    }
    const messages: QueuedMessage[] = [];
    for (const id of ids) {
      const found = await this.read(id, held.has(id));
      if (!found) continue;
      for (const rcpt of found.message.recipients)
        rcpt.last_error = reasons.get(`${found.eventId} ${rcpt.rcpt.toLowerCase()}`) ?? null;
      messages.push(found.message);
    }
    return summarise(messages);
  }

  private async ids() {
    try {
      return await spoolIds(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { ids: [], held: new Set<string>() };
      throw error;
    }
  }

  /**
   * One message with its pending recipients, and the id its events carry (the upstream milter's
   * when it gave one); null if the file is not a complete message or every recipient is final.
   */
  private async read(id: string, held: boolean): Promise<{ message: QueuedMessage; eventId: string } | null> {
    const read = await readEnvelope(path.join(this.dir, id), id).catch(() => null);
    if (!read) return null;
    const done = await readDone(this.dir, id);
    const { envelope } = read;
    const recipients = envelope.rcpts
      .filter((rcpt) => !done.has(rcpt))
      .map((rcpt) => ({
        rcpt,
        domain: rcpt.slice(rcpt.lastIndexOf('@') + 1).toLowerCase(),
        state: held ? 'held' : 'queued',
        attempts: 0,
        due: null,
        last_error: null as string | null,
      }));
    if (recipients.length === 0) return null; // every recipient final: a server removes it when it starts
    const message: QueuedMessage = {
      id,
      message_id: envelope.facts.message_id,
      mail_from: envelope.mail_from,
      size: read.messageLength,
      arrival: new Date(envelope.facts.injection_time).toISOString(),
      held,
      recipients,
      last_error: null,
    };
    return { message, eventId: envelope.facts.message_id };
  }

  private async withReasons(found: { message: QueuedMessage; eventId: string }): Promise<QueuedMessage> {
    const { message } = found;
    if (!this.events) return message;
    const known = await lastDeferrals(this.events, found.eventId);
    for (const rcpt of message.recipients) {
      const last = known.get(rcpt.rcpt.toLowerCase());
      if (!last) continue;
      rcpt.attempts = last.attempts;
      rcpt.last_error = last.reason;
    }
    message.last_error = newestError(message.recipients);
    return message;
  }
}
