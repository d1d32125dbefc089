/**
 * The X-MSYS-API header (SparkPost's SMTP API): parsed and validated here, once, for every door.
 * A valid header becomes MsysApi, which travels with the message into every event; an invalid one
 * is a 550 5.6.0 whose text names the field, so the sender can fix it. That includes a message
 * carrying the header twice, and JSON nested deeper than MAX_NESTING in any field: SparkPost
 * documents no depth for metadata, only its 1000 bytes; real metadata is a few levels deep, while
 * thousands of levels would overflow the stack of whatever serializes the value later (a
 * RangeError, which would have been a temporary failure the sender retries for ever).
 */
import { z } from 'zod';
import { MAX_NESTING, nestsTooDeep, TOO_DEEP } from './json-nesting.js';
import { Rejection } from './reply.js';

export const MSYS_HEADER = 'x-msys-api';

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

const msysSchema = z.looseObject({
  campaign_id: z
    .string({ error: 'must be a string' })
    .refine((s) => utf8Bytes(s) <= 64, 'must be at most 64 bytes')
    .optional(),
  metadata: z
    .record(z.string(), z.unknown(), { error: 'must be a JSON object' })
    .refine((m) => utf8Bytes(JSON.stringify(m)) <= 1000, 'must be at most 1000 bytes serialized')
    .optional(),
  tags: z
    .array(z.string({ error: 'must be strings' }), { error: 'must be an array of strings' })
    .max(10, 'must have at most 10 tags')
    .optional(),
  options: z
    .looseObject(
      {
        open_tracking: z.boolean({ error: 'must be true or false' }).optional(),
        click_tracking: z.boolean({ error: 'must be true or false' }).optional(),
        transactional: z.boolean({ error: 'must be true or false' }).optional(),
        sandbox: z.boolean({ error: 'must be true or false' }).optional(),
        skip_suppression: z.boolean({ error: 'must be true or false' }).optional(),
        inline_css: z.boolean({ error: 'must be true or false' }).optional(),
        ip_pool: z
          .string({ error: 'must be a string' })
          .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "-" or "."')
          .optional(),
      },
      { error: 'must be a JSON object' },
    )
    .optional(),
});

export type MsysApi = z.output<typeof msysSchema>;

/** The depth rule is core's, shared with the HTTP API (json-nesting.ts). */
export { MAX_NESTING };

/** The refusal of a second X-MSYS-API header, as soon as it is seen. */
export const duplicateMsysApi = (): Rejection => invalid('the header appears more than once');

/**
 * Parses the values of every X-MSYS-API header of a message (unfolded, without the name).
 * No header gives an empty MsysApi.
 */
export function parseMsysApi(values: readonly string[]): MsysApi {
  if (values.length === 0) return {};
  if (values.length > 1) throw duplicateMsysApi();
  let json: unknown;
  try {
    json = JSON.parse(values[0]!);
  } catch (error) {
    throw invalid(`invalid JSON (${(error as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw invalid('must be a JSON object');
  for (const [field, value] of Object.entries(json))
    if (nestsTooDeep(value)) throw invalid(`${field} ${TOO_DEEP}`);
  const result = msysSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw invalid(`${issue.path.join('.')} ${issue.message}`);
  }
  return result.data;
}

function invalid(reason: string): Rejection {
  return new Rejection(550, '5.6.0', `X-MSYS-API: ${reason}`);
}
