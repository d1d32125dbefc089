/** A configuration that cannot be used: where it came from and every problem found, one a line. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid configuration\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * A library's error while Sluice used an option's value (a listener, a file, a key), told with
 * the option's name and value first, so the operator knows which line of the configuration to
 * change: `listen.smtp (127.0.0.1:25): address already in use`.
 */
export class OptionError extends Error {
  constructor(
    readonly option: string,
    readonly value: unknown,
    cause: unknown,
  ) {
    super(`${option} (${typeof value === 'string' ? value : JSON.stringify(value)}): ${reasonOf(cause)}`, {
      cause,
    });
  }
}

const ERRNO_REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use (another process listens there)',
  EADDRNOTAVAIL: 'address not available on this machine',
  EACCES: 'permission denied (a port below 1024 needs root or CAP_NET_BIND_SERVICE; or a file mode)',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
};

function reasonOf(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code && ERRNO_REASONS[code]) return ERRNO_REASONS[code];
  return cause instanceof Error ? cause.message : String(cause);
}

/** Runs `work` with its errors told as errors of `option` (see OptionError). */
export async function usingOption<T>(option: string, value: unknown, work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof OptionError) throw error;
    throw new OptionError(option, value, error);
  }
}
