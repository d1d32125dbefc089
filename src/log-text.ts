/**
 * log.format: text. One line per event, in Postfix's manner, for an administrator who greps:
 *
 *   2026-05-01T10:00:00.123Z sluice[812]: message_id=01a2… to=<you@example.net>
 *     relay=mx.example.net[192.0.2.1]:25 delay=1.2 dsn=2.0.0 status=sent (250 2.0.0 Ok: queued)
 *   2026-05-01T10:00:03.456Z sluice/milter[815]: warning: redis unavailable store=redis at=…
 *
 * (each on one line). An ISO time, the program (sluice, or sluice/SERVICE for auth and milter)
 * with its pid, the level as Postfix says it (nothing for info; warning, error, fatal, debug),
 * then for a delivery outcome Postfix's fields ending in the reply in parentheses, for anything
 * else the message and its fields as key=value (quoted when they hold spaces).
 */

const LEVELS: Record<number, string> = {
  10: 'trace: ',
  20: 'debug: ',
  30: '',
  40: 'warning: ',
  50: 'error: ',
  60: 'fatal: ',
};
const OUTCOMES = new Set(['sent', 'deferred', 'bounced', 'expired']);
/** Fields the line's head already says, or pino's own. */
const HEAD = new Set(['time', 'level', 'pid', 'hostname', 'msg', 'service']);

export function textLine(entry: Record<string, unknown>): string {
  const program = entry.service ? `sluice/${String(entry.service)}` : 'sluice';
  const pid = entry.pid === undefined ? '' : `[${String(entry.pid)}]`;
  const head = `${String(entry.time)} ${program}${pid}: ${LEVELS[Number(entry.level)] ?? ''}`;
  if (typeof entry.status === 'string' && OUTCOMES.has(entry.status) && entry.to !== undefined)
    return `${head}${outcome(entry)}\n`;
  const fields = Object.entries(entry)
    .filter(([key, value]) => !HEAD.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${format(key, value)}`);
  return `${head}${[String(entry.msg ?? ''), ...fields].join(' ').trim()}\n`;
}

/** message_id=… to=<…> relay=… delay=… dsn=… status=… (reply), then any other field. */
function outcome(entry: Record<string, unknown>): string {
  const known = ['message_id', 'to', 'relay', 'delay', 'dsn', 'status', 'reply'];
  const parts = [
    `message_id=${format('message_id', entry.message_id)}`,
    `to=<${String(entry.to)}>`,
    `relay=${format('relay', entry.relay ?? 'none')}`,
    `delay=${format('delay', entry.delay)}`,
    `dsn=${format('dsn', entry.dsn)}`,
    `status=${String(entry.status)}`,
  ];
  for (const [key, value] of Object.entries(entry))
    if (!HEAD.has(key) && !known.includes(key) && value !== undefined)
      parts.push(`${key}=${format(key, value)}`);
  const reply = entry.reply === undefined ? '' : ` (${oneLine(String(entry.reply))})`;
  return `${parts.join(' ')}${reply}`;
}

function format(key: string, value: unknown): string {
  if (key === 'err' && value && typeof value === 'object') {
    const error = value as { message?: unknown; type?: unknown; reason?: unknown; store?: unknown };
    if (error.store) return quote(`store ${String(error.store)}: ${String(error.reason)}`);
    return quote(String(error.message ?? error.type ?? 'error'));
  }
  if (value === null) return 'null';
  if (typeof value === 'object') return quote(JSON.stringify(value));
  return quote(String(value));
}

function quote(text: string): string {
  const flat = oneLine(text);
  return flat === '' || /[\s"=]/.test(flat) ? JSON.stringify(flat) : flat;
}

/** A multi-line value (a reply, a message) kept on one line. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}
