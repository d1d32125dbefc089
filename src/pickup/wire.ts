/**
 * The local submission wire, both sides (pickup/server.ts, pickup/client.ts): HTTP/1.1 on the
 * pickup socket, `POST /v1/submit` with the proof file's name in X-Sluice-Proof; the body is one
 * JSON line, the envelope request, then the message bytes as given to sendmail. Pure: no I/O.
 */
import type { LocalEnvelopeRequest } from '../core/local-submission.js';

export const SUBMIT_PATH = '/v1/submit';
export const PROOF_HEADER = 'x-sluice-proof';
/** The name of a proof file: random, long enough that nobody guesses another's. */
export const PROOF_NAME = /^proof-[A-Za-z0-9_-]{22,64}$/;
const MAX_ENVELOPE = 1_048_576;

export interface SubmitReply {
  status: number;
  body: { id: string } | { error: string; code: number; enhanced: string | null };
}

export function encodeSubmission(envelope: LocalEnvelopeRequest, message: Buffer): Buffer {
  const line = JSON.stringify({
    sender: envelope.sender,
    recipients: envelope.recipients,
    extract: envelope.extract,
    full_name: envelope.fullName,
  });
  return Buffer.concat([Buffer.from(`${line}\n`, 'utf8'), message]);
}

export type Decoded =
  | { ok: true; envelope: LocalEnvelopeRequest; message: Buffer }
  | { ok: false; reason: string };

export function decodeSubmission(body: Buffer): Decoded {
  const end = body.indexOf(0x0a);
  if (end < 0 || end > MAX_ENVELOPE) return { ok: false, reason: 'expected an envelope line first' };
  let raw: unknown;
  try {
    raw = JSON.parse(body.subarray(0, end).toString('utf8'));
  } catch {
    return { ok: false, reason: 'the envelope line is not JSON' };
  }
  const e = raw as Record<string, unknown>;
  if (typeof e !== 'object' || e === null || Array.isArray(e))
    return { ok: false, reason: 'the envelope is not an object' };
  const optionalString = (v: unknown) => v === null || typeof v === 'string';
  if (!optionalString(e.sender)) return { ok: false, reason: 'sender must be a string or null' };
  if (!optionalString(e.full_name)) return { ok: false, reason: 'full_name must be a string or null' };
  if (typeof e.extract !== 'boolean') return { ok: false, reason: 'extract must be true or false' };
  if (
    !Array.isArray(e.recipients) ||
    !e.recipients.every((r) => typeof r === 'string') ||
    e.recipients.length > 100_000
  )
    return { ok: false, reason: 'recipients must be a list of strings' };
  return {
    ok: true,
    envelope: {
      sender: e.sender as string | null,
      recipients: e.recipients as string[],
      extract: e.extract,
      fullName: e.full_name as string | null,
    },
    message: body.subarray(end + 1),
  };
}
