/**
 * The configuration side of a reload, shared by serve, auth, policy and milter: read the file (and
 * the -o options) again; refuse a configuration that fails validation, with a log line naming each
 * problem, keeping the running one; name in a warning every changed option this command reads but
 * applies only at its next start (listen addresses, data_dir, the store...), keeping their running
 * values; let the service prepare the rest (it reads the files the options name and may refuse);
 * then write the new values into the running configuration, apply them and the log level, and
 * log what changed.
 */
import { ConfigError } from '../config/load.js';
import { applyInPlace, forReload, planReload, type ReloadSpec } from '../config/reload.js';
import type { Config } from '../config/schema.js';
import { type Logger, setLogLevel } from '../log.js';

export interface ReloaderOptions {
  /** The root logger (its level is log.level) and the one to report on. */
  root: Logger;
  log: Logger;
  /** The running configuration: updated in place by each reload. */
  running: Config;
  /** Reads the configuration again, as at start (throws ConfigError when invalid). */
  read: () => Config;
  spec: ReloadSpec;
  /** Reads what `next` needs and may throw; the function it returns applies it and must not throw. */
  prepare: (next: Config) => Promise<() => void>;
}

export function configReloader(options: ReloaderOptions): () => Promise<void> {
  const { log } = options;
  return async () => {
    let read: Config;
    try {
      read = options.read();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      log.error(
        { source: error.source, problems: error.problems },
        'configuration refused: the running one stays',
      );
      return;
    }
    const plan = planReload(options.running, read, options.spec);
    if (plan.applied.length === 0 && plan.restart.length === 0) {
      log.info('configuration reloaded: nothing changed');
      return;
    }
    const next = forReload(options.running, read, plan.restart);
    let apply: () => void;
    try {
      apply = await options.prepare(next);
    } catch (error) {
      log.error(
        { err: error, options: plan.applied },
        'configuration refused (a file it names cannot be used): the running one stays',
      );
      return;
    }
    if (plan.restart.length > 0)
      log.warn(
        { options: plan.restart },
        'changed options that take effect only at the next start: kept as they are until then',
      );
    applyInPlace(options.running, next);
    apply();
    // Reported at the more verbose of the two levels: a reload that quiets the log, or one that
    // makes it speak again, is still said.
    const { values } = options.root.levels;
    const quieter = (values[options.running.log.level] ?? 0) > (values[options.root.level] ?? 0);
    if (!quieter) setLogLevel(options.root, options.running.log.level);
    log.info({ applied: plan.applied }, 'configuration reloaded');
    if (quieter) setLogLevel(options.root, options.running.log.level);
  };
}
