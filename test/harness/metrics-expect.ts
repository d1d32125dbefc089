/**
 * SparkPost's metric definitions applied straight to a list of events, written independently of
 * Sluice's rollup code, so tests can say "the Metrics API's numbers are the counts of the events".
 * Unique counts count a message (message id + recipient) once, in the window of its first event
 * of that kind (Sluice's documented choice); `all` is every event, for finding those firsts.
 */
type Event = Record<string, unknown> & { type: string; timestamp: string };

const HARD = [10, 30, 90];
const BLOCK = [50, 51, 52, 53, 54];
const ADMIN = [25, 26, 80];

export function categoryOf(bounceClass: number): 'Hard' | 'Block' | 'Admin' | 'Undetermined' | 'Soft' {
  if (HARD.includes(bounceClass)) return 'Hard';
  if (BLOCK.includes(bounceClass)) return 'Block';
  if (ADMIN.includes(bounceClass)) return 'Admin';
  if (bounceClass === 1 || !bounceClass) return 'Undetermined';
  return 'Soft';
}

export const domainOf = (address: unknown) =>
  String(address ?? '').slice(String(address ?? '').lastIndexOf('@') + 1);

/** The From: domain, else the envelope sender's. */
export const sendingDomainOf = (e: Event) => domainOf(e.friendly_from || e.msg_from);

/** Every metric's value over `events` (those of one window and one group), firsts taken from `all`. */
export function expectedMetrics(
  events: readonly Event[],
  all: readonly Event[] = events,
): Record<string, number> {
  const of = (...types: string[]) => events.filter((e) => types.includes(e.type));
  const n = (value: unknown) => Number(value ?? 0) || 0;
  const deliveries = of('delivery');
  const first = deliveries.filter((e) => n(e.num_retries) === 0);
  const bounced = of('bounce', 'out_of_band');
  const category = (c: string) => bounced.filter((e) => categoryOf(n(e.bounce_class)) === c).length;
  const inband = of('bounce').length;
  const outofband = of('out_of_band').length;
  const policy = of('policy_rejection').length;
  const genRejection = of('generation_rejection').length;
  const genFailed = of('generation_failure').length;
  const rejected = policy + genRejection + genFailed;
  const delays = of('delay');
  const unique = (...types: string[]) => firstsIn(events, all, types);
  return {
    count_injected: of('injection').length,
    count_targeted: of('injection').length + rejected,
    count_rejected: rejected,
    count_policy_rejection: policy,
    count_generation_rejection: genRejection,
    count_generation_failed: genFailed,
    count_sent: deliveries.length + inband,
    count_accepted: Math.max(0, deliveries.length - outofband),
    count_delivered: deliveries.length,
    count_delivered_first: first.length,
    count_delivered_subsequent: deliveries.length - first.length,
    total_delivery_time_first: first.reduce((sum, e) => sum + n(e.queue_time), 0),
    total_delivery_time_subsequent: deliveries
      .filter((e) => n(e.num_retries) > 0)
      .reduce((sum, e) => sum + n(e.queue_time), 0),
    total_msg_volume: deliveries.reduce((sum, e) => sum + n(e.msg_size), 0),
    count_bounce: inband + outofband,
    count_inband_bounce: inband,
    count_outofband_bounce: outofband,
    count_hard_bounce: category('Hard'),
    count_soft_bounce: category('Soft'),
    count_block_bounce: category('Block'),
    count_admin_bounce: category('Admin'),
    count_undetermined_bounce: category('Undetermined'),
    count_delayed: delays.length,
    count_delayed_first: delays.filter((e) => n(e.num_retries) === 0).length,
    count_rendered: of('open').length,
    count_initial_rendered: of('initial_open').length,
    count_unique_rendered: unique('open'),
    count_unique_initial_rendered: unique('initial_open'),
    count_unique_confirmed_opened: unique('open', 'initial_open', 'click'),
    count_clicked: of('click').length,
    count_unique_clicked: unique('click'),
  };
}

/** Messages whose first event (over `all`) of these types is one of `events`. */
function firstsIn(events: readonly Event[], all: readonly Event[], types: string[]): number {
  const firsts = new Map<string, Event>();
  const sorted = [...all]
    .filter((e) => types.includes(e.type))
    .sort((a, b) => a.timestamp.localeCompare(b.timestamp));
  for (const e of sorted) {
    const key = `${e.message_id}\n${e.rcpt_to}`;
    if (!firsts.has(key)) firsts.set(key, e);
  }
  const mine = new Set(events);
  return [...firsts.values()].filter((e) => mine.has(e)).length;
}

/** Only the named metrics of a full set. */
export function pick(values: Record<string, number>, names: readonly string[]): Record<string, number> {
  return Object.fromEntries(names.map((name) => [name, values[name] ?? 0]));
}
