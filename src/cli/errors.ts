/**
 * Errors a command reports with its own exit status, kept apart from the modules that throw them
 * so the command line can recognise them without loading those modules.
 */

/** The running server could not be asked, or refused the request. */
export class AdminError extends Error {
  /** True when no server answered (not running, or the interface is off). */
  constructor(
    message: string,
    readonly unavailable = false,
  ) {
    super(message);
  }
}
