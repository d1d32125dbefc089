/**
 * One delivery attempt: a message to the recipients of one domain, through the first next hop
 * that answers. Returns a result per recipient (delivered, bounce or defer), never throws.
 * Connection-level trouble at one hop moves on to the next; a reused connection that the peer
 * closed while idle is retried once on a fresh one before the hop counts as failed.
 * Before connecting, an attempt takes a permit from the shaping budgets of its recipient domain
 * and of its MX host set, and picks its TLS policy and source address (the message's ip_pool).
 * A sandbox message (options.sandbox) never goes to its recipients: it goes to the sandbox relay
 * (transmissions.sandbox_relay) when one is set, else it is dropped and reported delivered to
 * the host "sandbox" with a reply saying so.
 */
import type { Readable } from 'node:stream';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { SMTPConnectionSendInfo } from 'nodemailer/lib/smtp-connection';
import type { DestinationStatus } from './destination-status.js';
import { IpPools } from './ip-pools.js';
import type { ConnectionPool, Lease, Via } from './pool.js';
import type { Route, Router } from './route.js';
import { type Permit, Shaper, ShapingPolicy } from './shaping.js';

export type RcptStatus = 'delivered' | 'bounce' | 'defer';

export interface RcptResult {
  rcpt: string;
  status: RcptStatus;
  /** Basic SMTP code from the peer, or 0 when no peer reply applies (DNS, connection). */
  code: number;
  enhanced: string | undefined;
  text: string;
  mxHost: string | undefined;
  /** The next hop that answered, as Postfix logs it: "mx.example.net[192.0.2.1]:25". */
  relay?: string;
}

export interface Attempt {
  domain: string;
  mailFrom: string;
  rcpts: string[];
  size: number;
  /** X-MSYS-API options.ip_pool: the named pool of source addresses to send from. */
  ipPool?: string | undefined;
  /** options.sandbox: never to the recipients (the sandbox relay, or nowhere). */
  sandbox?: boolean | undefined;
  /** Called for every try, since a stream can be read only once. */
  body(): Buffer | Readable;
  /**
   * Called with the results of a transaction the peer answered, before its connection may carry
   * another message; the caller records the outcome here (its rejection is the caller's to handle).
   * So a crash leaves at most one message per connection delivered but not recorded (RFC 1047).
   */
  settle?(results: RcptResult[]): Promise<void>;
}

interface SmtpFailure {
  code?: string;
  responseCode?: number;
  response?: string;
  message: string;
  rejectedErrors?: Array<{ recipient?: string; responseCode?: number; response?: string }>;
}

export interface Shaping {
  policy: ShapingPolicy;
  shaper: Shaper;
  ipPools: IpPools;
}

export class Deliverer {
  private readonly shaping: Shaping;

  constructor(
    private router: Router,
    private readonly pool: ConnectionPool,
    shaping?: Partial<Shaping>,
    /** Told of each attempt's route and replies (the console's queue view); optional. */
    private readonly status?: DestinationStatus,
    /** Routes sandbox mail to the sandbox relay; null: sandbox mail is dropped. */
    private sandboxRouter: Router | null = null,
  ) {
    this.shaping = {
      policy:
        shaping?.policy ??
        new ShapingPolicy({
          maxConnections: Number.POSITIVE_INFINITY,
          maxMessagesPerConnection: Number.POSITIVE_INFINITY,
          maxPerMinute: null,
        }),
      shaper: shaping?.shaper ?? new Shaper(),
      ipPools: shaping?.ipPools ?? new IpPools(),
    };
  }

  /**
   * A reload: routing, shaping limits and ip pools for the attempts that start from now on. The
   * shaper keeps its budgets (their counts are of deliveries running now); each budget takes the
   * new limits at its next use.
   */
  reconfigure(router: Router, policy: ShapingPolicy, ipPools: IpPools, sandboxRouter: Router | null): void {
    this.router = router;
    this.sandboxRouter = sandboxRouter;
    this.shaping.policy = policy;
    this.shaping.ipPools = ipPools;
  }

  /** Shutdown: attempts waiting for a shaping budget give up; their messages stay queued. */
  close(): void {
    this.shaping.shaper.close();
  }

  /** Deliveries to one recipient domain that may run at once: the queue starts no more than this. */
  concurrencyFor(domain: string): number {
    return this.shaping.policy.forDomain(domain).maxConnections;
  }

  async attempt(job: Attempt): Promise<RcptResult[]> {
    // Sandbox mail says nothing about its recipients' destination: the console's view ignores it.
    if (job.sandbox) return await this.sandbox(job);
    const results = await this.routeAndSend(job);
    this.status?.attempted(job.domain, results);
    return results;
  }

  /** Whether deliveries to this domain wait for a shaping budget (its own or its host set's). */
  waitingForShaping(domain: string): boolean {
    const { shaper } = this.shaping;
    const name = domain.toLowerCase();
    const hostSet = this.status?.get(name)?.hostSet;
    return shaper.waiting(`domain:${name}`) > 0 || (hostSet ? shaper.waiting(`hosts:${hostSet}`) > 0 : false);
  }

  /** options.sandbox: to the sandbox relay, or dropped and reported delivered to host "sandbox". */
  private async sandbox(job: Attempt): Promise<RcptResult[]> {
    if (!this.sandboxRouter)
      return this.all(
        job,
        'delivered',
        250,
        '2.0.0',
        'sandbox: not sent (no transmissions.sandbox_relay)',
        'sandbox',
      );
    return await this.send(job, await this.sandboxRouter.route(job.domain));
  }

  private async routeAndSend(job: Attempt): Promise<RcptResult[]> {
    const route = await this.router.route(job.domain);
    this.status?.routed(job.domain, route.ok ? route.hostSet : null);
    return await this.send(job, route);
  }

  private async send(job: Attempt, route: Route): Promise<RcptResult[]> {
    if (!route.ok) {
      const status = route.permanent ? 'bounce' : 'defer';
      return this.all(job, status, route.permanent ? 550 : 451, route.enhanced, route.reason, undefined);
    }
    const { permit, via } = await this.shape(job, route);
    try {
      return await this.viaHops(job, route, via);
    } finally {
      permit.release();
    }
  }

  /** Waits for the domain's and the host set's budgets; picks TLS policy and source address. */
  private async shape(
    job: Attempt,
    route: Extract<Route, { ok: true }>,
  ): Promise<{ permit: Permit; via: Via }> {
    const { policy, shaper, ipPools } = this.shaping;
    const domain = policy.forDomain(job.domain);
    const hosts = policy.forHosts(route.hostSet.slice(0, route.hostSet.lastIndexOf(':')).split(','));
    const permit = await shaper.acquire([
      { key: `domain:${job.domain.toLowerCase()}`, limits: domain },
      { key: `hosts:${route.hostSet}`, limits: hosts },
    ]);
    const messages = Math.min(domain.maxMessagesPerConnection, hosts.maxMessagesPerConnection);
    // The domain's own TLS choice wins over its provider's; neither: the pool's default.
    const tls = domain.tls ?? hosts.tls;
    return {
      permit,
      via: {
        tls,
        localAddress: ipPools.pick(ipPools.poolFor(job.ipPool)),
        maxMessages: Number.isFinite(messages) ? messages : undefined,
      },
    };
  }

  private async viaHops(job: Attempt, route: Extract<Route, { ok: true }>, via: Via): Promise<RcptResult[]> {
    let last: RcptResult[] | null = null;
    for (const hop of route.hops) {
      const why = { error: '' };
      const results = await this.tryHop(job, hop, () => this.pool.acquire(hop, via), why);
      if (results) return results;
      last = this.all(
        job,
        'defer',
        0,
        '4.4.1',
        `connection to ${hop.name}[${hop.address}]:${hop.port} failed${why.error ? `: ${why.error}` : ''}`,
        hop.name,
      );
    }
    return last ?? this.all(job, 'defer', 0, '4.4.1', 'no next hop answered', undefined);
  }

  /** Results from this hop, or null when it could not be reached (try the next one). */
  private async tryHop(
    job: Attempt,
    hop: { name: string; address: string; port: number },
    acquire: () => ReturnType<ConnectionPool['acquire']>,
    why: { error: string },
  ) {
    const { name } = hop;
    const relay = `${hop.name}[${hop.address}]:${hop.port}`;
    const answered = (results: RcptResult[]) => results.map((result) => ({ ...result, relay }));
    for (let tries = 0; tries < 2; tries++) {
      let lease: Lease;
      try {
        lease = await acquire();
      } catch (error) {
        // Kept for the delay event: "certificate has expired" says more than "failed".
        why.error = (error as Error).message.replace(/\s+/g, ' ').slice(0, 300);
        return null;
      }
      try {
        const info = await send(lease.connection, job);
        const results = answered(this.fromInfo(job, name, info.rejectedErrors ?? [], info.response));
        // Still holding the connection: it carries no other message until this outcome is recorded.
        await job.settle?.(results).catch(() => {});
        lease.release(true);
        return results;
      } catch (raw) {
        const error = raw as SmtpFailure;
        if (error.code === 'EENVELOPE' || error.code === 'EMESSAGE') {
          // A refused envelope leaves the peer's transaction open (MAIL was accepted): without RSET
          // the next message on this connection would get "503 nested MAIL command".
          const reusable =
            error.responseCode !== 421 && (error.code === 'EMESSAGE' || (await reset(lease.connection)));
          lease.release(reusable);
          if (error.rejectedErrors && error.rejectedErrors.length > 0 && error.code === 'EENVELOPE') {
            return answered(this.fromInfo(job, name, error.rejectedErrors, null));
          }
          // No reply code: nodemailer refused the envelope itself (an address it cannot send), which is permanent.
          const code = error.responseCode ?? 553;
          return answered(this.all(job, statusOf(code), code, ...reply(error), name));
        }
        lease.release(false);
        why.error = error.message.replace(/\s+/g, ' ').slice(0, 300);
        if (!lease.reused) return null;
      }
    }
    return null;
  }

  private fromInfo(
    job: Attempt,
    name: string,
    rejected: NonNullable<SmtpFailure['rejectedErrors']>,
    response: string | null,
  ): RcptResult[] {
    const byRcpt = new Map(rejected.map((r) => [r.recipient ?? '', r]));
    return job.rcpts.map((rcpt) => {
      const refusal = byRcpt.get(rcpt);
      if (refusal) {
        const [enhanced, text] = reply({ message: '', response: refusal.response ?? '' });
        return {
          rcpt,
          status: statusOf(refusal.responseCode),
          code: refusal.responseCode ?? 0,
          enhanced,
          text,
          mxHost: name,
        };
      }
      const [enhanced, text] = reply({ message: '', response: response ?? '250' });
      return { rcpt, status: 'delivered', code: 250, enhanced, text, mxHost: name };
    });
  }

  private all(
    job: Attempt,
    status: RcptStatus,
    code: number,
    enhanced: string | undefined,
    text: string,
    mx: string | undefined,
  ) {
    return job.rcpts.map((rcpt) => ({ rcpt, status, code, enhanced, text, mxHost: mx }));
  }
}

function send(connection: SMTPConnection, job: Attempt) {
  return new Promise<SMTPConnectionSendInfo>((resolve, reject) => {
    connection.send(
      // BODY=8BITMIME whenever offered: spooled bodies may carry 8-bit text and declaring it is harmless.
      { from: job.mailFrom, to: job.rcpts, size: job.size, use8BitMime: true },
      job.body(),
      (error, info) => {
        if (error) reject(error);
        else resolve(info!);
      },
    );
  });
}

/** RSET; resolves false (never rejects) when the connection cannot be reset and should be closed. */
function reset(connection: SMTPConnection): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const closed = () => resolve(false);
    connection.once('end', closed);
    connection.reset((error) => {
      connection.off('end', closed);
      resolve(!error);
    });
  });
}

function statusOf(code: number | undefined): RcptStatus {
  return code !== undefined && code >= 500 ? 'bounce' : 'defer';
}

/** Splits a peer reply ("550 5.1.1 No such user") into enhanced code and text. */
function reply(error: { message: string; response?: string }): [string | undefined, string] {
  const response = (error.response ?? '').trim();
  if (!response) return [undefined, error.message];
  const match = /^\d{3}[ -](\d\.\d{1,3}\.\d{1,3})?/.exec(response);
  return [match?.[1], response];
}
