/**
 * Open and click tracking inside a milter: the body arrives in chunks between EOH and EOM, goes
 * through core's TrackingTransform (the one `sluice serve` uses) and the rewritten bytes are
 * kept in a SpillBuffer until EOM, when they go back to the MTA with replace-body.
 *
 * The transform walks a whole message, but a milter sees the header fields one by one and the
 * body apart: the fields that decide the MIME walk (Content-*, MIME-Version, DKIM-Signature) are
 * fed first as a header section, and what the transform gives back for them is dropped.
 *
 * Memory: the transform holds only the text part being rewritten (tracking.max_html_part_size);
 * the rewritten body stays in memory up to `memoryLimit`, then on disk. When nothing was tracked,
 * or anything failed, there is no new body: the MTA keeps the one it has, byte for byte.
 */

import { type TrackingOptions, type TrackingResult, TrackingTransform } from '../tracking/mime.js';
import { SpillBuffer } from './spill-buffer.js';

/** Header fields the MIME walk reads from the top-level header section. */
export const WALK_FIELDS = /^(content-[a-z-]+|mime-version|dkim-signature)$/i;

export interface BodyTrackerOptions extends TrackingOptions {
  spillDir: string;
  memoryLimit: number;
}

export class BodyTracker {
  private readonly transform: TrackingTransform;
  private readonly spill: SpillBuffer;
  private failure: Error | null = null;

  /** `fields`: the message's header fields named by WALK_FIELDS, in order, values unfolded or not. */
  constructor(options: BodyTrackerOptions, fields: ReadonlyArray<[string, string]>) {
    this.transform = new TrackingTransform(options);
    this.spill = new SpillBuffer(options.spillDir, options.memoryLimit);
    const section = fields.map(([name, value]) => `${name}: ${value.replace(/\r?\n/g, '\r\n')}\r\n`).join('');
    // Every line of a complete header section comes straight back out: none of it is body.
    this.transform.push(Buffer.from(`${section}\r\n`, 'utf8'));
  }

  async push(chunk: Buffer): Promise<void> {
    if (this.failure) return;
    try {
      await this.spill.write(this.transform.push(chunk));
    } catch (error) {
      this.failure = error as Error;
    }
  }

  /** The rewritten body in pieces of at most `pieceSize`, or null to leave the body alone. */
  async finish(): Promise<{
    result: TrackingResult;
    body: AsyncIterable<Buffer> | null;
    error: Error | null;
  }> {
    const { result } = this.transform;
    if (!this.failure) {
      try {
        await this.spill.write(this.transform.end());
      } catch (error) {
        this.failure = error as Error;
      }
    }
    if (this.failure || !result.tracked) return { result, body: null, error: this.failure };
    return { result, body: this.spill.read(65_535), error: null };
  }

  /** Removes what was spilled; safe to call more than once. */
  async dispose(): Promise<void> {
    await this.spill.dispose();
  }
}
