/**
 * POST /api/v1/transmissions, the decision part: recipients are checked one by one (a bad one is
 * rejected alone, SparkPost's "transmission created, but with validation errors"), the content is
 * planned and compiled (a stored template must exist; a syntax error is the 422 with part and
 * line), options.start_time is checked against transmissions.max_schedule_ahead. Then:
 * - inline recipients, no start_time ahead: generated now, each message fsynced before the answer,
 *   the record written as Success;
 * - a start_time ahead, or a stored recipient list: the request is stored (durably) as a
 *   submitted transmission and the scheduler generates it when its time comes (at once for a
 *   list); the answer counts the recipients accepted for generation.
 */
import { newMessageId, transmissionIdFor } from '../../core/ids.js';
import { parseStartTime } from '../../core/start-time.js';
import { TemplateError } from '../../core/template/index.js';
import type { ApiKeyRecord, TransmissionRecord } from '../../store/types.js';
import { generate, type RcptError } from '../../transmissions/generate.js';
import { buildPlan, isTemplateRef, PlanError, type StoredRequest } from '../../transmissions/plan.js';
import { checkRecipients, type Recipient } from './content-schemas.js';
import { ApiError, invalidValue, notFound, templateInvalid } from './errors.js';
import type { ApiDeps } from './index.js';
import type { TransmissionBody } from './schemas.js';

export interface SubmitAnswer {
  errors?: { message: string; code: string }[];
  results: {
    total_rejected_recipients: number;
    total_accepted_recipients: number;
    id: string;
    rcpt_to_errors?: RcptError[];
  };
}

export async function submitTransmission(
  body: TransmissionBody,
  key: ApiKeyRecord,
  clientIp: string,
  numRcptErrors: number | undefined,
  deps: ApiDeps,
): Promise<SubmitAnswer> {
  const now = Date.now();
  const listId = Array.isArray(body.recipients) ? null : body.recipients.list_id;
  let recipients: Recipient[] = [];
  let invalid: RcptError[] = [];
  let count: number;
  if (Array.isArray(body.recipients)) {
    if (body.recipients.length === 0) throw invalidValue('recipients', 'must list at least one recipient');
    if (body.recipients.length > deps.config.http.max_recipients)
      throw invalidValue('recipients', `must have at most ${deps.config.http.max_recipients} entries`);
    ({ valid: recipients, errors: invalid } = checkRecipients(body.recipients));
    // Nothing left to send: the request itself is refused, naming the first problem.
    if (recipients.length === 0) throw new ApiError(422, invalid[0]!);
    count = recipients.length;
  } else {
    const list = await deps.recipientLists.get(body.recipients.list_id);
    if (!list) throw notFound(`List '${body.recipients.list_id}' does not exist`);
    count = list.total_accepted_recipients;
  }
  // The envelope sender comes from return_path, else the message's From field.
  if ('email_rfc822' in body.content && !body.return_path && !/^From:/im.test(body.content.email_rfc822)) {
    const members = listId ? ((await deps.recipientLists.recipients(listId)) ?? []) : recipients;
    if (members.some((r) => !(r as { return_path?: string }).return_path))
      throw invalidValue('return_path', 'is required with content.email_rfc822 that has no From field');
  }
  let startAt: number | null = null;
  if (body.options?.start_time !== undefined) {
    const start = parseStartTime(body.options.start_time, now, deps.config.transmissions.max_schedule_ahead);
    if (!start.ok) throw invalidValue('options.start_time', start.problem);
    if (start.at > now) startAt = start.at;
  }

  const id = transmissionIdFor(newMessageId(now));
  const stored: StoredRequest = {
    body: { ...body, recipients: listId ? { list_id: listId } : recipients },
    key: { id: key.id, defaults: key.defaults },
    client_ip: clientIp,
  };
  const later = startAt !== null || listId !== null;
  let plan: Awaited<ReturnType<typeof buildPlan>>;
  try {
    plan = await buildPlan(id, stored, deps, new Date(now), !later);
  } catch (error) {
    if (error instanceof PlanError)
      throw error.status === 404 ? notFound(error.problem) : invalidValue(error.field, error.problem);
    if (error instanceof TemplateError) throw templateInvalid(error);
    throw error;
  }

  const created = new Date(now).toISOString();
  const record: TransmissionRecord = {
    id,
    state: later ? 'submitted' : 'Success',
    name: body.name ?? '',
    description: body.description ?? '',
    campaign_id: body.campaign_id ?? '',
    template_id: isTemplateRef(body.content) ? body.content.template_id : 'inline',
    use_draft_template: isTemplateRef(body.content) && body.content.use_draft_template === true,
    recipient_list_id: listId,
    start_time: startAt === null ? null : new Date(startAt).toISOString(),
    created,
    num_rcpts: count,
    num_generated: 0,
    num_failed_gen: 0,
    progress: 0,
    generation_start_time: null,
    generation_end_time: null,
    metadata: body.metadata ?? {},
    substitution_data: body.substitution_data ?? {},
    options: body.options ?? {},
  };

  let accepted = count;
  const errors = [...invalid];
  if (later) {
    await deps.transmissions.insert(record, JSON.stringify(stored));
    if (startAt === null) deps.scheduler?.kick();
  } else {
    const result = await generate(plan, recipients, deps);
    accepted = result.generated;
    errors.push(...result.errors);
    // The messages are spooled: failing to keep the record must not make the caller send again.
    await deps.transmissions
      .insert(
        {
          ...record,
          num_generated: result.generated,
          num_failed_gen: result.failed,
          progress: recipients.length,
          generation_start_time: created,
          generation_end_time: new Date().toISOString(),
        },
        null,
      )
      .catch((error: unknown) =>
        deps.log.error(
          { err: error, transmission_id: id },
          'transmission sent, but its record was not stored',
        ),
      );
  }
  deps.log.info(
    {
      transmission_id: id,
      key: key.id,
      accepted,
      rejected: errors.length,
      ip: clientIp,
      ...(record.start_time ? { start_time: record.start_time } : {}),
      ...(listId ? { list_id: listId } : {}),
    },
    later ? 'transmission submitted for generation' : 'transmission accepted',
  );
  const shown = numRcptErrors === undefined ? errors : errors.slice(0, numRcptErrors);
  return {
    ...(invalid.length > 0
      ? { errors: [{ message: 'transmission created, but with validation errors', code: '2000' }] }
      : {}),
    results: {
      total_rejected_recipients: errors.length,
      total_accepted_recipients: accepted,
      id,
      ...(shown.length > 0 ? { rcpt_to_errors: shown } : {}),
    },
  };
}
