/**
 * One webhook POST. The SSRF guard runs inside the socket's own DNS lookup, so the address that
 * is checked is the address that is connected to: a name that resolves outside when a batch is
 * created (or at a first lookup) and inside at connect time (DNS rebinding) is still refused.
 * Redirects are never followed, the answer body is read up to a small cap, and the whole exchange
 * is bounded by timeoutMs. Never throws: every failure is a PostResult with a reason.
 */
import { lookup as systemLookup } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { BATCH_HEADER, SIGNATURE_HEADER, signBatch } from '../core/webhooks.js';
import type { WebhookRecord } from '../store/types.js';
import {
  addressRefusal,
  localAddressValues,
  PRIVATE_TARGET_HINT,
  type Refusal,
  refuseTarget,
  type TargetPolicy,
} from './target-guard.js';

export interface PostResult {
  ok: boolean;
  status: number | null;
  /** "HTTP 500", the network error or the guard's reason: for logs only, never for API callers. */
  detail: string;
  body: string;
  /** Set when the target guard refused the target (before or at connect) rather than the peer. */
  refused: Refusal['kind'] | null;
}

export interface PostLimits extends TargetPolicy {
  timeoutMs: number;
}

/** The error a refused lookup fails the connection with, so the result can say it was the guard. */
const REFUSED_TARGET = 'EREFUSEDTARGET';

/** Bytes of the receiver's answer kept for logs and the validate endpoint. */
const BODY_CAP = 1024;

export type WebhookTarget = Pick<WebhookRecord, 'target' | 'auth_type' | 'auth_credentials' | 'secret'>;

/** POSTs one batch. 2xx is acceptance (SparkPost asks for 200; any 2xx is taken). */
export async function postBatch(
  webhook: WebhookTarget,
  batchId: string,
  payload: string,
  limits: PostLimits,
): Promise<PostResult> {
  const refusal = await refuseTarget(webhook.target, limits);
  if (refusal) return { ok: false, status: null, detail: refusal.detail, body: '', refused: refusal.kind };
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(payload)),
    'user-agent': 'Sluice-Webhooks/1',
    [BATCH_HEADER]: batchId,
    [SIGNATURE_HEADER]: signBatch(webhook.secret, payload),
  };
  if (webhook.auth_type === 'basic' && webhook.auth_credentials) {
    const { username, password } = webhook.auth_credentials;
    headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }
  const url = new URL(webhook.target);
  const lookup = limits.allowPrivateTargets
    ? (limits.resolve ?? systemLookup)
    : guardedLookup(limits.resolve ?? systemLookup, localAddressValues(limits));
  return new Promise<PostResult>((resolve) => {
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(url, {
      method: 'POST',
      headers,
      lookup,
      agent: false,
      signal: AbortSignal.timeout(limits.timeoutMs),
    });
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve({
        ok: false,
        status: null,
        detail:
          error.code && !error.message.includes(error.code)
            ? `${error.message} (${error.code})`
            : error.message,
        body: '',
        refused: error.code === REFUSED_TARGET ? 'address' : null,
      }),
    );
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
        // A receiver streaming an endless answer must not hold the dispatcher.
        if (body.length >= BODY_CAP) response.destroy();
      });
      const done = () =>
        resolve({
          ok: status >= 200 && status < 300,
          status,
          detail: `HTTP ${status}`,
          body: body.slice(0, BODY_CAP),
          refused: null,
        });
      response.on('end', done);
      response.on('close', done);
    });
    request.end(payload);
  });
}

/** A lookup that fails the connection when any resolved address is refused by the guard. */
function guardedLookup(resolveName: LookupFunction, local: ReadonlySet<bigint>): LookupFunction {
  return (hostname, options, callback) => {
    resolveName(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = (Array.isArray(addresses) ? addresses : [{ address: addresses, family: 0 }]) as {
        address: string;
        family: number;
      }[];
      if (list.length === 0)
        return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      for (const { address } of list) {
        const why = addressRefusal(address, local);
        if (!why) continue;
        const reason = `the target ${hostname} resolves to ${address} at connect time, ${why}; ${PRIVATE_TARGET_HINT}`;
        return callback(Object.assign(new Error(reason), { code: REFUSED_TARGET }), '', 0);
      }
      if (options.all) return callback(null, list);
      const first = list[0] as { address: string; family: number };
      callback(null, first.address, first.family);
    });
  };
}
