/**
 * The client side of local submission (`sluice sendmail`): proves its user with an empty file of
 * its own in the pickup directory (pickup/server.ts says why that proves it), sends the envelope
 * and message over the pickup socket, and resolves with the id once `sluice serve` has spooled and
 * fsynced the message. PickupError says what happened in sysexits terms: `temporary` (serve not
 * running, or a 4xx answer: try again later, nothing was queued) or permanent.
 */
import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { LocalEnvelopeRequest } from '../core/local-submission.js';
import { encodeSubmission, PROOF_HEADER, SUBMIT_PATH } from './wire.js';

export class PickupError extends Error {
  constructor(
    message: string,
    readonly temporary: boolean,
    /** The SMTP reply code the server gave, when it answered. */
    readonly code: number | null = null,
  ) {
    super(message);
  }
}

export async function submitLocally(
  dir: string,
  envelope: LocalEnvelopeRequest,
  message: Buffer,
): Promise<string> {
  const proof = `proof-${randomBytes(24).toString('base64url')}`;
  const proofFile = path.join(dir, proof);
  try {
    // O_EXCL: never someone else's file; 0600: nobody reads it (it is empty anyway).
    await (await open(proofFile, 'wx', 0o600)).close();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new PickupError(`${dir} does not exist: is sluice serve running (pickup.dir)?`, true);
    throw new PickupError(`cannot write to ${dir}: ${(error as Error).message}`, true);
  }
  try {
    return await send(path.join(dir, 'pickup.sock'), proof, encodeSubmission(envelope, message));
  } finally {
    // The server removes it when it reads it; still there means it never got that far.
    await unlink(proofFile).catch(() => {});
  }
}

function send(socketPath: string, proof: string, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        socketPath,
        method: 'POST',
        path: SUBMIT_PATH,
        headers: {
          [PROOF_HEADER]: proof,
          'content-type': 'application/octet-stream',
          'content-length': body.length,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          let parsed: { id?: string; error?: string; code?: number; enhanced?: string | null };
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof parsed;
          } catch {
            return reject(new PickupError(`unreadable answer (HTTP ${response.statusCode})`, true));
          }
          if (response.statusCode === 200 && typeof parsed.id === 'string') return resolve(parsed.id);
          const code = typeof parsed.code === 'number' ? parsed.code : 451;
          const text = `${code}${parsed.enhanced ? ` ${parsed.enhanced}` : ''} ${parsed.error ?? 'refused'}`;
          reject(new PickupError(text, code < 500, code));
        });
        response.on('error', () => reject(new PickupError('the connection to sluice serve broke', true)));
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED')
        reject(new PickupError(`no sluice serve is listening on ${socketPath}`, true));
      else reject(new PickupError(`the connection to sluice serve broke: ${error.message}`, true));
    });
    request.end(body);
  });
}
