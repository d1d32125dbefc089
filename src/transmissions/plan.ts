/**
 * A transmission's plan: what every recipient's message is made from. The content is the
 * request's own (inline or email_rfc822) or a stored template's version as it is at generation
 * time (SparkPost: a scheduled transmission uses the template as it is when generation starts);
 * the options are settled once: the request's, then the template's, then the API key's defaults,
 * then the config (resolveMessageOptions), so delivery and events read one answer from the spool.
 * Building a plan compiles every part: a syntax error throws TemplateError ('compiling').
 */
import type { Config } from '../config/schema.js';
import { fromAddress, TransmissionComposer, type TransmissionContent } from '../core/compose.js';
import type { MsysApi } from '../core/smtpapi.js';
import { resolveMessageOptions } from '../core/tracking-decision.js';
import type { KeyDefaults, TemplateRecord, TemplateStore, TemplateVersion } from '../store/types.js';

export interface RecipientInput {
  address: string | { email: string; name?: string | undefined; header_to?: string | undefined };
  return_path?: string | undefined;
  tags?: string[] | undefined;
  metadata?: Record<string, unknown> | undefined;
  substitution_data?: Record<string, unknown> | undefined;
}

export interface TemplateRef {
  template_id: string;
  use_draft_template?: boolean | undefined;
}

export interface TransmissionOptions {
  open_tracking?: boolean | undefined;
  click_tracking?: boolean | undefined;
  transactional?: boolean | undefined;
  sandbox?: boolean | undefined;
  inline_css?: boolean | undefined;
  ip_pool?: string | undefined;
  start_time?: string | undefined;
  skip_suppression?: boolean | undefined;
}

export interface TransmissionRequest {
  content: TransmissionContent | TemplateRef;
  options?: TransmissionOptions | undefined;
  campaign_id?: string | undefined;
  description?: string | undefined;
  name?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
  substitution_data?: Record<string, unknown> | undefined;
  return_path?: string | undefined;
  recipients: RecipientInput[] | { list_id: string };
}

/** What a transmission generated later keeps from its request. */
export interface StoredRequest {
  body: TransmissionRequest;
  key: { id: string; defaults: KeyDefaults };
  client_ip: string;
}

export interface Plan {
  id: string;
  composer: TransmissionComposer;
  template: { id: string; version: string } | null;
  options: NonNullable<MsysApi['options']>;
  campaign_id: string | undefined;
  metadata: Record<string, unknown>;
  substitution_data: Record<string, unknown>;
  return_path: string | undefined;
  /** The From address when it holds no template: the envelope sender's default. */
  from: string | null;
  apiKeyId: string;
  clientIp: string;
}

/** A request that cannot be planned: the status SparkPost answers, the field, the reason. */
export class PlanError extends Error {
  constructor(
    readonly status: 404 | 422,
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

export function isTemplateRef(content: TransmissionRequest['content']): content is TemplateRef {
  return 'template_id' in content;
}

/** The version of a template a transmission uses, or why there is none. */
export function chooseVersion(template: TemplateRecord | null, ref: TemplateRef): TemplateVersion {
  if (!template)
    throw new PlanError(404, 'content.template_id', `template '${ref.template_id}' does not exist`);
  const version = ref.use_draft_template ? template.draft : template.published;
  if (!version)
    throw new PlanError(
      422,
      ref.use_draft_template ? 'content.use_draft_template' : 'content.template_id',
      ref.use_draft_template
        ? `template '${template.id}' has no draft`
        : `template '${template.id}' has no published version (publish it, or set use_draft_template)`,
    );
  return version;
}

export async function buildPlan(
  id: string,
  stored: StoredRequest,
  deps: { templates: TemplateStore; config: Config },
  now: Date,
  /** Record the template's last use (false when only checking a request that is generated later). */
  touch = true,
): Promise<Plan> {
  const { body } = stored;
  let content: TransmissionContent;
  let template: Plan['template'] = null;
  let templateOptions: TemplateVersion['options'] = {};
  if (isTemplateRef(body.content)) {
    const record = await deps.templates.get(body.content.template_id);
    const version = chooseVersion(record, body.content);
    content = version.content as unknown as TransmissionContent;
    templateOptions = version.options;
    template = {
      id: record!.id,
      version: body.content.use_draft_template ? 'draft' : String(record!.published_version),
    };
    if (touch) await deps.templates.touch(record!.id, now.toISOString());
  } else content = body.content;

  const { start_time: _start, inline_css, skip_suppression: _skip, ...messageOptions } = body.options ?? {};
  const requested = { ...templateOptions, ...defined(messageOptions) };
  const settled = resolveMessageOptions({ options: requested }, stored.key.defaults, deps.config.tracking);
  return {
    id,
    composer: new TransmissionComposer(content, { inlineCss: inline_css === true }),
    template,
    options: settled.options ?? {},
    campaign_id: body.campaign_id,
    metadata: body.metadata ?? {},
    substitution_data: body.substitution_data ?? {},
    return_path: body.return_path,
    from: fromAddress(content),
    apiKeyId: stored.key.id,
    clientIp: stored.client_ip,
  };
}

/** Drops undefined values, so an option the request leaves out does not hide the template's. */
function defined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}
