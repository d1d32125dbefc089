/**
 * Who may name a message's id: the rule behind X-Sluice-Message-ID. An upstream Sluice milter
 * (stage 0, in Postfix or Sendmail) gives each message its id, records its injection under it and
 * adds the id in X-Sluice-Message-ID; a downstream `sluice serve` (stage 1) keeps that id, so the
 * message is one message across both. A header anybody can write must not be believed on its own
 * (an app in relay.networks would file its deliveries under another key's message, campaign and
 * webhooks), so the milter also adds X-Sluice-Message-Signature: an HMAC of the id keyed with a
 * key derived from the tracking keys (tracking.keys, or data_dir/tracking/keys.json). Those keys
 * must already be the same wherever tracked links are made and followed; the same sharing makes
 * a milter's ids believable downstream, and nothing else has to be distributed.
 *
 * Value: "1:<key id>:<base64url of the first 16 bytes of HMAC-SHA256(k, 'id:' + id)>", where
 * k = HMAC-SHA256(tracking secret, 'sluice upstream message id'). The first key signs, every key
 * verifies (rotation, as for tracking tokens). An id is believed for UPSTREAM_ID_MAX_AGE after the
 * time it carries (its first 12 hex digits), which bounds the replay of a header seen on delivered
 * mail to the time an upstream MTA may reasonably keep a message queued (Postfix's
 * maximal_queue_lifetime is 5 days).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SigningKey } from '../tracking/token.js';

export const UPSTREAM_ID_HEADER = 'X-Sluice-Message-ID';
export const UPSTREAM_SIGNATURE_HEADER = 'X-Sluice-Message-Signature';
export const UPSTREAM_ID_MAX_AGE_MS = 7 * 86_400_000;
/** Clocks of two hosts differ: an id a little in the future is still believed. */
const FUTURE_SLACK_MS = 3_600_000;
const MESSAGE_ID = /^[0-9a-f]{20}$/;
const SIGNATURE = /^1:([A-Za-z0-9._-]{1,32}):([A-Za-z0-9_-]{22})$/;
const DERIVATION_LABEL = 'sluice upstream message id';
const MAC_LENGTH = 16;

export type UpstreamIdVerdict =
  | { ok: true }
  | { ok: false; reason: 'malformed id' | 'no signature' | 'bad signature' | 'unknown key' | 'expired' };

export class UpstreamIdSigner {
  private byId = new Map<string, Buffer>();
  private signingId = '';

  constructor(
    keys: readonly SigningKey[],
    private readonly now: () => number = Date.now,
  ) {
    this.setKeys(keys);
  }

  /** Replaces the keys (a reload that changed tracking.keys); the first signs from now on. */
  setKeys(keys: readonly SigningKey[]): void {
    if (keys.length === 0) throw new Error('upstream id: at least one signing key is needed');
    const byId = new Map<string, Buffer>();
    for (const key of keys)
      byId.set(key.id, createHmac('sha256', key.secret).update(DERIVATION_LABEL).digest());
    this.byId = byId;
    this.signingId = keys[0]!.id;
  }

  sign(id: string): string {
    return `1:${this.signingId}:${mac(this.byId.get(this.signingId)!, id).toString('base64url')}`;
  }

  verify(id: string, signature: string | null): UpstreamIdVerdict {
    if (!MESSAGE_ID.test(id)) return { ok: false, reason: 'malformed id' };
    if (signature === null) return { ok: false, reason: 'no signature' };
    const match = SIGNATURE.exec(signature);
    if (!match) return { ok: false, reason: 'bad signature' };
    const key = this.byId.get(match[1]!);
    if (!key) return { ok: false, reason: 'unknown key' };
    const given = Buffer.from(match[2]!, 'base64url');
    if (given.length !== MAC_LENGTH || !timingSafeEqual(given, mac(key, id)))
      return { ok: false, reason: 'bad signature' };
    const issued = Number.parseInt(id.slice(0, 12), 16);
    const now = this.now();
    if (issued < now - UPSTREAM_ID_MAX_AGE_MS || issued > now + FUTURE_SLACK_MS)
      return { ok: false, reason: 'expired' };
    return { ok: true };
  }
}

function mac(key: Buffer, id: string): Buffer {
  return createHmac('sha256', key).update(`id:${id}`).digest().subarray(0, MAC_LENGTH);
}
