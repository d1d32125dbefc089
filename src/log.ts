/**
 * Logging: pino JSON lines on stdout (one grep by message_id follows a message), or a readable
 * form for people with --pretty. Secrets never reach a log line: callers log key ids, not keys.
 * setLogLevel() changes the level of a logger and of every child made from it since (pino gives
 * a child its parent's level when it is made, and never again): a reload's new log.level reaches
 * the listeners' and services' loggers made at start as well as those made later.
 */
import { pino } from 'pino';

export type Logger = pino.Logger;

/** Children of each root, held weakly: per-connection children come and go. */
const childrenOf = new WeakMap<Logger, Set<WeakRef<Logger>>>();

export function createLogger(level: string, pretty = false): Logger {
  const children = new Set<WeakRef<Logger>>();
  const onChild = (child: Logger) => {
    children.add(new WeakRef(child));
    if (children.size % 1024 === 0) for (const ref of children) if (!ref.deref()) children.delete(ref);
  };
  const root = pretty
    ? pino({
        level,
        onChild,
        transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } },
      })
    : pino({ level, onChild, base: { pid: process.pid } });
  childrenOf.set(root, children);
  return root;
}

/** The level of `root` (a logger createLogger made) and of all its living descendants. */
export function setLogLevel(root: Logger, level: string): void {
  root.level = level;
  for (const ref of childrenOf.get(root) ?? []) {
    const child = ref.deref();
    if (child) child.level = level;
    else childrenOf.get(root)?.delete(ref);
  }
}
