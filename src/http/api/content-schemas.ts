/**
 * Request and response shapes of content the API stores or sends: message content (inline,
 * email_rfc822 or a stored template's id, one object whose combinations are checked field by
 * field so a refusal names the field), recipients, templates and recipient lists, as SparkPost's
 * API defines them. Fields SparkPost has and Sluice cannot honour are refused by name
 * (subaccounts: only `shared_with_subaccounts: false` is accepted, which is the truth).
 */
import { z } from 'zod';
import { parseMailbox, RESERVED_HEADERS } from '../../core/compose.js';
import { nestsTooDeep, TOO_DEEP } from '../../core/json-nesting.js';

const EMAIL = /^[^\s@<>()",;:]+@[^\s@<>()",;:]+$/;
export const email = z.string().regex(EMAIL, 'must be an email address');
/** Free-form JSON (metadata, substitution_data, attributes): an object, nested at most MAX_NESTING deep. */
export const json = z
  .record(z.string(), z.unknown())
  .refine((value) => !nestsTooDeep(value), { message: TOO_DEEP, abort: true });
const templated = (s: string) => s.includes('{{');

/** A query-string boolean, as SparkPost's clients send it. */
export const queryBoolean = z.enum(['true', 'false']).transform((v) => v === 'true');

const addressObject = z.strictObject({
  email,
  name: z.string().max(256).optional(),
  header_to: z.string().optional(),
});

export const recipientSchema = z.strictObject({
  address: z.union([email, addressObject], { error: 'must be an email address or {email, name, header_to}' }),
  return_path: email.optional(),
  tags: z.array(z.string()).max(10).optional(),
  metadata: json.optional(),
  substitution_data: json.optional(),
});
export type Recipient = z.output<typeof recipientSchema>;

const attachmentSchema = z.strictObject({
  name: z.string().min(1).max(255),
  type: z.string().min(1).max(255),
  /** Base64, as SparkPost's. */
  data: z.string().regex(/^[A-Za-z0-9+/=\s]*$/, 'must be base64'),
});

const fromSchema = z.union(
  [
    z.string().refine((s) => templated(s) || parseMailbox(s) !== null),
    z.strictObject({
      email: z.string().refine((s) => templated(s) || EMAIL.test(s), 'must be an email address'),
      name: z.string().max(256).optional(),
    }),
  ],
  { error: 'must be an email address, "Name <address>" or {email, name}' },
);

const headersSchema = z
  .record(z.string().regex(/^[\x21-\x39\x3b-\x7e]+$/, 'must be a header name'), z.string())
  .superRefine((headers, context) => {
    for (const name of Object.keys(headers))
      if (RESERVED_HEADERS.has(name.toLowerCase()))
        context.addIssue({
          code: 'custom',
          path: [name],
          message: 'is written by Sluice (from its own field or the MIME structure); not allowed in headers',
        });
  });

const contentFields = {
  from: fromSchema.optional(),
  subject: z.string().min(1).optional(),
  text: z.string().optional(),
  html: z.string().optional(),
  amp_html: z.string().optional(),
  reply_to: z.string().optional(),
  headers: headersSchema.optional(),
  attachments: z.array(attachmentSchema).optional(),
  inline_images: z.array(attachmentSchema).optional(),
  email_rfc822: z.string().min(1).optional(),
};

type Fields = Record<string, unknown>;
const INLINE_ONLY = Object.keys(contentFields).filter((k) => k !== 'email_rfc822');

/** The content combinations SparkPost allows; each problem is an issue on the field it concerns. */
function checkContent(content: Fields, context: z.RefinementCtx, allowTemplate: boolean): void {
  const present = (key: string) => content[key] !== undefined;
  const issue = (path: string, message: string) =>
    context.addIssue({ code: 'custom', path: [path], message });
  if (allowTemplate && present('template_id')) {
    for (const key of [...INLINE_ONLY, 'email_rfc822'])
      if (present(key)) issue(key, 'cannot be combined with template_id');
    return;
  }
  if (present('use_draft_template')) issue('use_draft_template', 'goes with template_id');
  if (present('email_rfc822')) {
    for (const key of INLINE_ONLY) if (present(key)) issue(key, 'cannot be combined with email_rfc822');
    return;
  }
  if (!present('from')) issue('from', 'is required');
  if (!present('subject')) issue('subject', 'is required');
  if (!present('text') && !present('html')) issue('html', 'html or text is required');
}

type Inline = Omit<z.output<z.ZodObject<typeof contentFields>>, 'email_rfc822'>;
export type InlineContentInput = Inline & { from: NonNullable<Inline['from']>; subject: string };
export type MessageContent = InlineContentInput | { email_rfc822: string };
export type TransmissionContentInput = MessageContent | { template_id: string; use_draft_template?: boolean };

function shape(content: Fields): MessageContent | TransmissionContentInput {
  if (content['template_id'] !== undefined) {
    const { template_id, use_draft_template } = content as {
      template_id: string;
      use_draft_template?: boolean;
    };
    return use_draft_template === undefined ? { template_id } : { template_id, use_draft_template };
  }
  if (content['email_rfc822'] !== undefined) return { email_rfc822: content['email_rfc822'] as string };
  return content as InlineContentInput;
}

/** A transmission's content: inline, email_rfc822, or a stored template. */
export const transmissionContent = z
  .strictObject({
    ...contentFields,
    template_id: z.string().min(1).max(64).optional(),
    use_draft_template: z.boolean().optional(),
  })
  .superRefine((content, context) => checkContent(content, context, true))
  .transform((content) => shape(content) as TransmissionContentInput);

/** A template's content: inline or email_rfc822. */
export const templateContent = z
  .strictObject(contentFields)
  .superRefine((content, context) => checkContent(content, context, false))
  .transform((content) => shape(content) as MessageContent);

// ---- templates ------------------------------------------------------------------------------

const templateId = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "-" or "."');
export const templateParams = z.object({ id: templateId });

const templateOptions = z.strictObject({
  open_tracking: z.boolean().optional(),
  click_tracking: z.boolean().optional(),
  transactional: z.boolean().optional(),
});

const noSubaccounts = z
  .boolean()
  .refine((v) => v === false, 'must be false: Sluice has no subaccounts')
  .optional();

export const createTemplateBody = z
  .strictObject({
    id: templateId.optional(),
    name: z.string().max(1024).optional(),
    description: z.string().max(1024).optional(),
    content: templateContent,
    options: templateOptions.optional(),
    published: z.boolean().optional(),
    shared_with_subaccounts: noSubaccounts,
  })
  .refine((body) => body.id !== undefined || body.name !== undefined, {
    message: 'id or name is required',
    path: ['id'],
  });

export const updateTemplateBody = z.strictObject({
  name: z.string().max(1024).optional(),
  description: z.string().max(1024).optional(),
  content: templateContent.optional(),
  options: templateOptions.optional(),
  published: z.boolean().optional(),
  shared_with_subaccounts: noSubaccounts,
});

export const templateQuery = z.object({ draft: queryBoolean.optional() });
export const updateTemplateQuery = z.object({ update_published: queryBoolean.optional() });
export const listTemplatesQuery = z.object({
  draft: queryBoolean.optional(),
  shared_with_subaccounts: queryBoolean.optional(),
});
export const previewBody = z.strictObject({ substitution_data: json.optional() });

export const templateSummary = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  published: z.boolean(),
  has_draft: z.boolean(),
  has_published: z.boolean(),
  shared_with_subaccounts: z.boolean(),
  last_update_time: z.string(),
  last_use: z.string().optional(),
});

export const templateView = templateSummary.extend({ options: templateOptions, content: json });

// ---- recipient lists ------------------------------------------------------------------------

const listId = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "-" or "."')
  .refine((id) => !id.startsWith('rcptlist_'), "cannot start with 'rcptlist_'");
export const listParams = z.object({ id: z.string().min(1).max(64) });
const numRcptErrors = z.coerce.number().int().min(0).max(10_000);

export const createListBody = z.strictObject({
  id: listId.optional(),
  name: z.string().max(64).optional(),
  description: z.string().max(1024).optional(),
  attributes: json.optional(),
  /** Validated one by one: a bad recipient is rejected alone (rcpt_to_errors). */
  recipients: z.array(z.unknown()),
  /** The official client sends it in the body as well as in the query. */
  num_rcpt_errors: numRcptErrors.optional(),
});

export const updateListBody = z.strictObject({
  id: z.string().optional(),
  name: z.string().max(64).optional(),
  description: z.string().max(1024).optional(),
  attributes: json.optional(),
  recipients: z.array(z.unknown()).optional(),
  num_rcpt_errors: numRcptErrors.optional(),
});

export const listQuery = z.object({ num_rcpt_errors: numRcptErrors.optional() });
export const showListQuery = z.object({ show_recipients: queryBoolean.optional() });

export const listSummary = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  attributes: json,
  total_accepted_recipients: z.number(),
});

export const listView = listSummary.extend({ recipients: z.array(json).optional() });

export const listResults = z.object({
  id: z.string(),
  name: z.string(),
  total_accepted_recipients: z.number().optional(),
  total_rejected_recipients: z.number().optional(),
  rcpt_to_errors: z
    .array(z.object({ message: z.string(), code: z.string(), description: z.string() }))
    .optional(),
});

// ---- recipients, validated one by one -------------------------------------------------------

export interface RecipientError {
  message: string;
  code: string;
  description: string;
}

/** Each recipient checked on its own: the valid ones, and an error per invalid one. */
export function checkRecipients(raw: readonly unknown[]): { valid: Recipient[]; errors: RecipientError[] } {
  const valid: Recipient[] = [];
  const errors: RecipientError[] = [];
  raw.forEach((candidate, index) => {
    const parsed = recipientSchema.safeParse(candidate);
    if (parsed.success) {
      valid.push(parsed.data);
      return;
    }
    const issue = parsed.error.issues[0]!;
    const field = ['recipients', index, ...issue.path].join('.');
    const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
    errors.push(
      missing
        ? { message: 'required field is missing', code: '1400', description: `${field} is required` }
        : { message: 'invalid data format/type', code: '1300', description: `${field}: ${issue.message}` },
    );
  });
  return { valid, errors };
}
