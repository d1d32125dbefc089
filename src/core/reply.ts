/**
 * Decisions that reach a client: an error value carrying an SMTP-ready reply (basic code and
 * RFC 3463 enhanced code). Doors translate it to their protocol; core never writes to a socket.
 */
export class Rejection extends Error {
  constructor(
    readonly code: number,
    readonly enhanced: string,
    readonly text: string,
  ) {
    super(`${enhanced} ${text}`);
  }

  get permanent(): boolean {
    return this.code >= 500;
  }

  override toString(): string {
    return `${this.code} ${this.enhanced} ${this.text}`;
  }
}

export const reject = (code: number, enhanced: string, text: string): Rejection =>
  new Rejection(code, enhanced, text);
