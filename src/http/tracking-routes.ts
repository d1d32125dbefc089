/**
 * The tracking endpoints. GET /q/TOKEN answers a 1×1 GIF that no cache keeps and records `open`
 * or `initial_open` (the token says which pixel it is); GET /f/TOKEN answers 302 to the link's
 * original URL and records `click`. A token that does not verify (tampered, unknown key,
 * expired, malformed, or of the wrong kind for the route) gets 404 with a short body: never a
 * redirect, so the server cannot be used as an open redirector.
 *
 * Speed: the message's injection event is looked up once and then cached (InjectionCache), and
 * the engagement event is appended to `deps.events` — which `sluice serve` makes a
 * BatchedEventStore, so a click costs no commit of its own (see src/server.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { engagementEvent, type SluiceEvent } from '../core/events.js';
import type { Logger } from '../log.js';
import type { EventStore } from '../store/types.js';
import type { TokenPayload, TokenSigner } from '../tracking/token.js';
import { InjectionCache } from './injection-cache.js';

export interface TrackingRouteDeps {
  signer: TokenSigner;
  events: EventStore;
  log: Logger;
}

/** The smallest transparent GIF (43 bytes). */
export const PIXEL_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const NO_CACHE = {
  'cache-control': 'no-cache, no-store, must-revalidate, max-age=0, private',
  pragma: 'no-cache',
  expires: '0',
};

export function registerTrackingRoutes(app: FastifyInstance, deps: TrackingRouteDeps): void {
  const injections = new InjectionCache(deps.events);
  app.get<{ Params: { token: string } }>('/q/:token', async (request, reply) => {
    const payload = deps.signer.verify(request.params.token);
    if (!payload || payload.kind === 'click') return notFound(reply);
    await record(deps, injections, request, payload);
    return reply
      .code(200)
      .headers({ 'content-type': 'image/gif', ...NO_CACHE })
      .send(PIXEL_GIF);
  });

  app.get<{ Params: { token: string } }>('/f/:token', async (request, reply) => {
    const payload = deps.signer.verify(request.params.token);
    // Only http(s) targets were ever signed; checking again costs nothing and keeps it that way.
    if (payload?.kind !== 'click' || !/^https?:\/\//i.test(payload.url)) return notFound(reply);
    await record(deps, injections, request, payload);
    return reply
      .code(302)
      .headers({ location: locationOf(payload.url), 'cache-control': 'no-store' })
      .send();
  });
}

/**
 * A header carries only visible ASCII, so a link written with non-ASCII characters (an IDN host,
 * a Unicode path) or spaces would make Node refuse the reply (a 500 instead of the redirect). Those
 * characters are percent-encoded as UTF-8, which browsers read back as the same URL (hosts
 * included: the URL standard percent-decodes a host before IDNA); every other character is kept.
 */
export function locationOf(url: string): string {
  return url.replace(/[^\x21-\x7e]+/g, (run) =>
    [...Buffer.from(run, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

async function record(
  deps: TrackingRouteDeps,
  injections: InjectionCache,
  request: FastifyRequest,
  payload: TokenPayload,
): Promise<void> {
  const target = { message_id: payload.messageId, rcpt_to: payload.rcpt };
  let injection: SluiceEvent | null = null;
  try {
    injection =
      injections.peek(payload.messageId, payload.rcpt) ??
      (await injections.lookup(payload.messageId, payload.rcpt));
  } catch (error) {
    // A shared store that is away must not cost the event: it is recorded without the message facts.
    deps.log.warn(
      { err: error, ...target, type: payload.kind },
      'injection lookup failed for a tracking event',
    );
  }
  try {
    const client = { user_agent: request.headers['user-agent'] ?? '', ip_address: request.ip };
    const link =
      payload.kind === 'click' ? { target_link_url: payload.url, target_link_name: payload.linkName } : null;
    deps.events.append(engagementEvent(payload.kind, target, injection, client, link));
  } catch (error) {
    // The person clicking still gets where they were going; the lost event is logged.
    deps.log.error({ err: error, ...target, type: payload.kind }, 'failed to record a tracking event');
  }
}

function notFound(reply: FastifyReply) {
  return reply
    .code(404)
    .headers({ 'content-type': 'text/plain; charset=utf-8', ...NO_CACHE })
    .send('Not found\n');
}
