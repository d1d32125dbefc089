/**
 * The SMTP door: one smtp-server instance per listener ("smtp" for injection from trusted
 * networks, "submission" for AUTH with API keys). It keeps session state only; every decision
 * (who is this key, may this client relay, is this recipient suppressed, is this message
 * acceptable) is asked of core. A session that authenticated has its key checked again at each
 * MAIL (core's keyStillInjects, through a short-lived key cache, not a store read per message),
 * so a key deleted or narrowed mid-session stops sending at the next message (550 5.7.1).
 */
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerSession } from 'smtp-server';
import type { AuthThrottle } from '../core/auth-throttle.js';
import { policyRejectionEvent } from '../core/events.js';
import { EARLY_TALKER, GreetPause } from '../core/greet-pause.js';
import { newMessageId, transmissionIdFor } from '../core/ids.js';
import type { KeyService } from '../core/keys.js';
import { unmapIPv4 } from '../core/networks.js';
import type { ListenerKind, RelayPolicy } from '../core/relay-policy.js';
import { Rejection } from '../core/reply.js';
import {
  checkSmtpLogin,
  injectionRefused,
  keyStillInjects,
  type SmtpLoginResult,
} from '../core/smtp-login.js';
import { checkSuppression, smtpSuppressionOutage, suppressedRejection } from '../core/suppression.js';
import { logStoreFailure } from '../log.js';
import type { SluiceMetrics } from '../metrics/metrics.js';
import type { ApiKeyRecord, SuppressionStore } from '../store/types.js';
import type { TlsPair } from '../tls/certificate.js';
import { type DataDeps, receiveData, type SessionUser } from './data.js';
import { asRejection, installEnhancedReplies, smtpError } from './enhanced-replies.js';
import { greetAsConfigured } from './greeting.js';

export interface ListenerDeps extends DataDeps {
  keys: KeyService;
  /** A key record by id, through a cache of smtp.key_cache (the re-check at MAIL). */
  findKey: (id: string) => Promise<ApiKeyRecord | null>;
  throttle: AuthThrottle;
  relay: RelayPolicy;
  tls: TlsPair;
  suppressions: SuppressionStore;
  metrics?: SluiceMetrics;
}

export function createSmtpListener(kind: ListenerKind, deps: ListenerDeps): SMTPServer {
  installEnhancedReplies();
  const { smtp } = deps.config;
  const perIp = new Map<string, number>();
  const counted = new Set<string>();
  const log = deps.log.child({ listener: kind });
  const clientIp = (session: SMTPServerSession) => unmapIPv4(session.remoteAddress);

  const server = new SMTPServer({
    name: deps.hostname,
    banner: 'Sluice',
    key: deps.tls.key,
    cert: deps.tls.cert,
    size: smtp.max_message_size,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: !deps.relay.requiresAuth(kind),
    allowInsecureAuth: smtp.allow_insecure_auth,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: true,
    disableReverseLookup: true,
    maxClients: smtp.max_connections,
    maxRecipients: smtp.max_recipients,
    maxCommandLength: smtp.max_command_length,
    socketTimeout: smtp.idle_timeout,
    closeTimeout: 30_000,
    authRequiredMessage: '5.7.0 Authentication required',
    logger: false,

    onConnect(session, callback) {
      const ip = clientIp(session);
      const current = perIp.get(ip) ?? 0;
      if (current >= smtp.max_connections_per_ip && liveFrom(ip) > smtp.max_connections_per_ip) {
        log.warn({ ip, connections: current }, 'too many connections from one address');
        return callback(smtpError(new Rejection(421, '4.7.0', 'Too many connections from your address')));
      }
      perIp.set(ip, current + 1);
      counted.add(session.id);
      callback();
    },

    onClose(session) {
      if (!counted.delete(session.id)) return;
      const ip = clientIp(session);
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left <= 0) perIp.delete(ip);
      else perIp.set(ip, left);
    },

    onAuth(auth: SMTPServerAuthentication, session, callback) {
      const ip = clientIp(session);
      authenticate(auth, ip, deps).then(
        (result) => {
          if (result.ok) {
            const { key } = result;
            deps.throttle.succeeded(ip);
            log.info({ session_id: session.id, ip, key: key.id }, 'authenticated');
            const user: SessionUser = { keyId: key.id, defaults: key.defaults };
            return callback(null, { user });
          }
          const delay = deps.throttle.failed(ip);
          // The key id when the key exists (it lacks smtp/inject, or the address is not in its
          // valid_ips): the reply stays generic, the log says which key and why.
          log.warn(
            {
              session_id: session.id,
              ip,
              user: auth.username?.slice(0, 64),
              reason: result.reason,
              ...('keyId' in result && result.keyId && { key: result.keyId }),
              delay_ms: delay,
            },
            'auth failed',
          );
          setTimeout(() => {
            callback(smtpError(new Rejection(535, '5.7.8', 'Authentication credentials invalid')));
          }, delay);
        },
        (error: unknown) => {
          logStoreFailure(log, error, { session_id: session.id, ip }, 'auth lookup failed: 454 4.7.0');
          callback(smtpError(new Rejection(454, '4.7.0', 'Temporary authentication failure')));
        },
      );
    },

    onMailFrom(_address, session, callback) {
      const user = session.user as SessionUser | undefined;
      if (!user) return callback();
      const ip = clientIp(session);
      deps.findKey(user.keyId).then(
        (key) => {
          const refusal = keyStillInjects(key, ip);
          if (!refusal) return callback();
          log.info(
            { session_id: session.id, ip, key: user.keyId, reason: refusal },
            'key may not inject: refused at MAIL',
          );
          callback(smtpError(injectionRefused()));
        },
        (error: unknown) => {
          log.error(
            { err: error, session_id: session.id, key: user.keyId },
            'key lookup failed: deferred at MAIL',
          );
          callback(smtpError(new Rejection(451, '4.3.0', 'Temporary key lookup failure, try again later')));
        },
      );
    },

    onRcptTo(address, session, callback) {
      checkRecipient(kind, address.address, session, deps).then(
        () => callback(),
        (error: unknown) => {
          const rejection = asRejection(error);
          log.warn(
            {
              session_id: session.id,
              ip: clientIp(session),
              rcpt: address.address,
              reply: rejection.toString(),
            },
            'recipient refused',
          );
          callback(smtpError(rejection));
        },
      );
    },

    onData(stream, session, callback) {
      const timer = deps.metrics?.injectLatency.startTimer();
      receiveData(stream, session, deps).then(
        (id) => {
          timer?.();
          callback(null, `2.0.0 Ok: queued as ${id}`);
        },
        (error: unknown) => callback(smtpError(asRejection(error))),
      );
    },
  });

  // Greeted at once, not after smtp-server's fixed 100 ms; smtp.greet_pause where configured.
  const pause = new GreetPause(smtp.greet_pause, smtp.greet_pause_networks, deps.relay);
  greetAsConfigured(server, {
    pauseFor: (address) => pause.pauseFor(unmapIPv4(address)),
    earlyTalker: EARLY_TALKER,
    onEarlyTalker: (address) =>
      log.info(
        { ip: unmapIPv4(address), reply: EARLY_TALKER.toString() },
        'client talked before the greeting',
      ),
  });
  /**
   * Connections from `ip` still in session, this new one included. The counter above only drops
   * when a socket has closed, which comes a moment after the 221 to QUIT: a client that reconnects
   * at once (greeted without delay now) would otherwise find its own finished session counted.
   */
  const liveFrom = (ip: string) => {
    let live = 0;
    for (const connection of server.connections)
      if (!connection._closing && !connection._closed && unmapIPv4(connection.remoteAddress) === ip) live++;
    return live;
  };
  server.on('error', (error) => log.warn({ err: error }, 'smtp connection error'));
  return server;
}

/**
 * Core's verdict on the credentials. For PLAIN, the authentication identity is the authcid as
 * sent (smtp-server's username falls back to the authzid when the authcid is empty, which
 * `sluice auth` would not do) and the authzid goes to core too.
 */
async function authenticate(
  auth: SMTPServerAuthentication,
  ip: string,
  deps: ListenerDeps,
): Promise<SmtpLoginResult | { ok: false; reason: 'mechanism' }> {
  if (auth.method !== 'PLAIN' && auth.method !== 'LOGIN') return { ok: false, reason: 'mechanism' };
  const plain = auth.method === 'PLAIN';
  const username = plain ? (auth.authcid ?? auth.username) : auth.username;
  if (typeof username !== 'string' || typeof auth.password !== 'string') return { ok: false, reason: 'user' };
  return await checkSmtpLogin(deps.keys, username, auth.password, ip, plain ? (auth.authzid ?? '') : '');
}

/**
 * Relay policy, then the suppression list. The X-MSYS-API header that could make the message
 * transactional comes with the data, so at RCPT the key's default decides the entry type.
 */
async function checkRecipient(
  kind: ListenerKind,
  rcpt: string,
  session: SMTPServerSession,
  deps: ListenerDeps,
): Promise<void> {
  const user = session.user as SessionUser | undefined;
  deps.relay.checkRecipient(kind, unmapIPv4(session.remoteAddress), user?.keyId ?? null);
  const outage = smtpSuppressionOutage(deps.config.store.smtp_unavailable);
  const skipped = (error: unknown) =>
    deps.log.debug(
      { session_id: session.id, rcpt, error: (error as Error).message },
      'suppression list unavailable; recipient accepted unchecked (store.smtp_unavailable: cached_keys)',
    );
  if (
    await checkSuppression(deps.suppressions, rcpt, user?.defaults?.transactional ?? false, outage, skipped)
  ) {
    const refusal = suppressedRejection(rcpt);
    // Whoever reads events learns of it as from SparkPost: a policy_rejection.
    deps.events.append(policyRejectionEvent(rcptFacts(session, user), rcpt, refusal));
    throw refusal;
  }
}

/** What a policy_rejection at RCPT can say about a message that never got its data. */
function rcptFacts(session: SMTPServerSession, user: SessionUser | undefined) {
  const id = newMessageId();
  return {
    message_id: id,
    transmission_id: transmissionIdFor(id),
    msg_from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    friendly_from: '',
    subject: '',
    msg_size: 0,
    injection_time: new Date().toISOString(),
    recv_method: 'esmtp' as const,
    api_key_id: user?.keyId ?? null,
    client_ip: unmapIPv4(session.remoteAddress),
    msys: {},
  };
}
