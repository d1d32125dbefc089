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
import { internalAddress, refuseTarget } from './target-guard.js';

export interface PostResult {
  ok: boolean;
  status: number | null;
  /** "HTTP 500" or the network error, for logs and the validate answer. */
  detail: string;
  body: string;
}

export interface PostLimits {
  timeoutMs: number;
  allowPrivateTargets: boolean;
  /** Name resolution; the system resolver unless a test serves its own answers. */
  resolve?: LookupFunction;
}

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
  const refusal = await refuseTarget(webhook.target, limits.allowPrivateTargets, limits.resolve);
  if (refusal) return { ok: false, status: null, detail: refusal, body: '' };
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
    : guardedLookup(limits.resolve ?? systemLookup);
  return new Promise<PostResult>((resolve) => {
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(url, {
      method: 'POST',
      headers,
      lookup,
      agent: false,
      signal: AbortSignal.timeout(limits.timeoutMs),
    });
    request.on('error', (error) => resolve({ ok: false, status: null, detail: error.message, body: '' }));
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
        });
      response.on('end', done);
      response.on('close', done);
    });
    request.end(payload);
  });
}

/** A lookup that fails the connection when any resolved address is internal. */
function guardedLookup(resolveName: LookupFunction): LookupFunction {
  return (hostname, options, callback) => {
    resolveName(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = (Array.isArray(addresses) ? addresses : [{ address: addresses, family: 0 }]) as {
        address: string;
        family: number;
      }[];
      const inside = list.find(({ address }) => internalAddress(address));
      if (inside || list.length === 0) {
        const reason = inside
          ? `the target resolves to an internal address (${inside.address}) at connect time; set webhooks.allow_private_targets to allow it`
          : 'the target host does not resolve';
        return callback(Object.assign(new Error(reason), { code: 'EREFUSEDTARGET' }), '', 0);
      }
      if (options.all) return callback(null, list);
      const first = list[0] as { address: string; family: number };
      callback(null, first.address, first.family);
    });
  };
}
