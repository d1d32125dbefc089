/**
 * Every request and response shape of the API, in one place (zod). The same schemas validate
 * requests (a violation is a 422 naming the field) and generate /api/v1/openapi.json, and tests
 * and the CLI may import them; names and fields follow SparkPost's API.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { EVENT_TYPES } from '../../core/event-types.js';
import { GRANTS } from '../../core/grants.js';
import { email, json, transmissionContent } from './content-schemas.js';

const csv = <T extends z.ZodType<string, string>>(item: T) =>
  z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item));
const timestamp = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), 'must be a date such as 2026-01-31T14:00 or an ISO timestamp')
  .transform((s) => new Date(s).toISOString());
const cidr = z.string().refine((value) => {
  const [address, bits, ...rest] = value.split('/');
  if (rest.length > 0 || !address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}, 'must be an IP address or CIDR such as 10.0.0.0/8');

export const errorsSchema = z.object({
  errors: z.array(
    z.object({
      message: z.string(),
      code: z.string().optional(),
      description: z.string().optional(),
      /** Template errors: the part (html, text, Header:Subject…) and line, as SparkPost's. */
      part: z.string().optional(),
      line: z.number().optional(),
    }),
  ),
});

// ---- api keys -------------------------------------------------------------------------------

export const grantSchema = z.enum(GRANTS);
export const keyIdParams = z.object({ id: z.string().regex(/^[0-9a-f]{16}$/, 'must be a key id') });

/** Sluice's addition: what the key's mail gets when the message does not say (as `sluice keys --default`). */
export const keyDefaults = z.strictObject({
  open_tracking: z.boolean().optional(),
  click_tracking: z.boolean().optional(),
  transactional: z.boolean().optional(),
  ip_pool: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "-" or "."')
    .optional(),
});

export const createKeyBody = z.strictObject({
  label: z.string().min(1).max(1024),
  grants: z.array(grantSchema).min(1),
  valid_ips: z.array(cidr).optional(),
  defaults: keyDefaults.optional(),
});

export const updateKeyBody = z.strictObject({
  label: z.string().min(1).max(1024).optional(),
  grants: z.array(grantSchema).min(1).optional(),
  valid_ips: z.array(cidr).optional(),
  defaults: keyDefaults.optional(),
});

export const keyView = z.object({
  id: z.string(),
  label: z.string(),
  grants: z.array(grantSchema),
  valid_ips: z.array(z.string()),
  short_key: z.string(),
  defaults: keyDefaults,
  created_at: z.string(),
  last_used_at: z.string().nullable(),
});

// ---- transmissions --------------------------------------------------------------------------

export const transmissionOptions = z.strictObject({
  open_tracking: z.boolean().optional(),
  click_tracking: z.boolean().optional(),
  transactional: z.boolean().optional(),
  sandbox: z.boolean().optional(),
  skip_suppression: z
    .boolean()
    .refine(
      (skip) => skip === false,
      "is not honoured over HTTP: the suppression list is the operator's (sluice suppressions remove)",
    )
    .optional(),
  inline_css: z.boolean().optional(),
  /** Checked by the handler against transmissions.max_schedule_ahead (core/start-time.ts). */
  start_time: z.string().optional(),
  ip_pool: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "-" or "."')
    .optional(),
});

export const transmissionBody = z.strictObject({
  /** An array is checked recipient by recipient: a bad one is rejected alone (rcpt_to_errors). */
  recipients: z.union([z.array(z.unknown()), z.strictObject({ list_id: z.string().min(1).max(64) })], {
    error: 'must be an array of recipients or {"list_id": "…"}',
  }),
  content: transmissionContent,
  options: transmissionOptions.optional(),
  campaign_id: z.string().max(64).optional(),
  description: z.string().max(1024).optional(),
  name: z.string().max(1024).optional(),
  metadata: json.optional(),
  substitution_data: json.optional(),
  return_path: email.optional(),
});
export type TransmissionBody = z.output<typeof transmissionBody>;

export const transmissionQuery = z.object({
  num_rcpt_errors: z.coerce.number().int().min(0).max(10_000).optional(),
});

export const transmissionListQuery = z.object({
  campaign_id: z.string().max(64).optional(),
  template_id: z.string().max(64).optional(),
});
export const transmissionParams = z.object({
  id: z.string().regex(/^\d{1,20}$/, 'must be a transmission id'),
});
export const cancelCampaignQuery = z.object({ campaign_id: z.string().min(1).max(64) });

export const transmissionSummary = z.object({
  id: z.string(),
  state: z.string(),
  campaign_id: z.string(),
  description: z.string(),
  content: z.object({ template_id: z.string() }),
});

export const transmissionView = z.object({
  transmission: transmissionSummary.extend({
    name: z.string(),
    content: z.object({ template_id: z.string(), use_draft_template: z.boolean() }),
    recipients: z.object({ list_id: z.string() }).optional(),
    start_time: z.string().optional(),
    rcpt_list_chunk_size: z.number(),
    rcpt_list_total_chunks: z.number(),
    num_rcpts: z.number(),
    num_generated: z.number(),
    num_failed_gen: z.number(),
    generation_start_time: z.string().optional(),
    generation_end_time: z.string().optional(),
    substitution_data: json,
    metadata: json,
    options: json,
  }),
});

export const transmissionResults = z.object({
  total_rejected_recipients: z.number(),
  total_accepted_recipients: z.number(),
  id: z.string(),
  rcpt_to_errors: z
    .array(z.object({ message: z.string(), code: z.string(), description: z.string() }))
    .optional(),
});

// ---- events ---------------------------------------------------------------------------------

/** Core's list: the API's filters and the command line's --type accept the same types. */
export { EVENT_TYPES };

export const eventsQuery = z.object({
  events: csv(z.enum(EVENT_TYPES)).optional(),
  recipients: csv(z.string()).optional(),
  message_ids: csv(z.string()).optional(),
  campaigns: csv(z.string()).optional(),
  from: timestamp.optional(),
  to: timestamp.optional(),
  per_page: z.coerce.number().int().min(1).max(10_000).default(1000),
  cursor: z.string().max(512).optional(),
});

export const eventsResponse = z.object({
  results: z.array(z.looseObject({ type: z.string(), event_id: z.string(), timestamp: z.string() })),
  total_count: z.number(),
  links: z.object({ next: z.string().optional() }),
});

// ---- suppression list -----------------------------------------------------------------------

export const suppressionType = z.enum(['transactional', 'non_transactional']);

export const suppressionEntry = z.strictObject({
  recipient: email,
  type: suppressionType,
  description: z.string().max(1024).optional(),
});

export const putSuppressionsBody = z.strictObject({
  recipients: z.array(suppressionEntry).min(1).max(10_000),
});

export const putOneSuppressionBody = z.strictObject({
  type: suppressionType,
  description: z.string().max(1024).optional(),
});

export const suppressionListQuery = z.object({
  types: csv(suppressionType).optional(),
  sources: csv(z.string()).optional(),
  search: z.string().max(256).optional(),
  from: timestamp.optional(),
  to: timestamp.optional(),
  per_page: z.coerce.number().int().min(1).max(10_000).default(1000),
  cursor: z.string().max(512).optional(),
});

export const recipientParams = z.object({ recipient: email });
export const suppressionDeleteQuery = z.object({ type: suppressionType.optional() });

export const suppressionView = z.object({
  recipient: z.string(),
  type: suppressionType,
  source: z.string(),
  description: z.string(),
  created: z.string(),
  updated: z.string(),
});

// ---- webhooks -------------------------------------------------------------------------------

export const webhookIdParams = z.object({ id: z.string().regex(/^[0-9a-f]{16}$/, 'must be a webhook id') });

const basicCredentials = z.strictObject({ username: z.string().min(1), password: z.string() });
const target = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

export const createWebhookBody = z.strictObject({
  name: z.string().min(1).max(1024),
  target,
  events: z.array(z.enum(EVENT_TYPES)).min(1).optional(),
  auth_type: z.enum(['none', 'basic']).default('none'),
  auth_credentials: basicCredentials.optional(),
  active: z.boolean().default(true),
});

export const updateWebhookBody = z.strictObject({
  name: z.string().min(1).max(1024).optional(),
  target: target.optional(),
  events: z.array(z.enum(EVENT_TYPES)).min(1).optional(),
  auth_type: z.enum(['none', 'basic']).optional(),
  auth_credentials: basicCredentials.optional(),
  active: z.boolean().optional(),
});

export const webhookView = z.object({
  id: z.string(),
  name: z.string(),
  target: z.string(),
  events: z.array(z.string()),
  auth_type: z.enum(['none', 'basic']),
  active: z.boolean(),
  created: z.string(),
  updated: z.string(),
});
