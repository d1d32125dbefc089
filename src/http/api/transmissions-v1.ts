/**
 * SparkPost's Transmissions API. POST /transmissions (grant transmissions/modify) sends or
 * schedules (transmission-submit.ts). GET /transmissions lists the scheduled ones (campaign_id,
 * template_id filters; inline content reads template_id "inline"), GET /transmissions/{id} shows
 * any transmission with its state (submitted, Generating, Success, Canceled) and counts (grant
 * transmissions/view). DELETE /transmissions/{id} cancels one that is still submitted (409 code
 * 2006 once generation started, 404 unknown), DELETE /transmissions?campaign_id= every submitted
 * one of a campaign. Unlike SparkPost, there is no 10-minute window before the start time in
 * which cancelling is refused: a transmission can be cancelled until its generation starts.
 */
import { unmapIPv4 } from '../../core/networks.js';
import type { TransmissionRecord } from '../../store/types.js';
import { ApiError } from './errors.js';
import type { ApiDeps } from './index.js';
import { type ApiRoute, route } from './route.js';
import {
  cancelCampaignQuery,
  transmissionBody,
  transmissionListQuery,
  transmissionParams,
  transmissionQuery,
  transmissionResults,
  transmissionSummary,
  transmissionView,
} from './schemas.js';
import { submitTransmission } from './transmission-submit.js';

const missing = (id: string) =>
  new ApiError(404, {
    message: 'resource not found',
    code: '1600',
    description: `Resource not found:transmission id ${id}`,
  });

/** SparkPost's timestamps: 2014-05-22T15:12:59+00:00. */
export function sparkTime(iso: string): string {
  return iso.replace(/\.\d{3}Z$/, '+00:00').replace(/Z$/, '+00:00');
}

function summary(record: TransmissionRecord) {
  return {
    content: { template_id: record.template_id },
    id: record.id,
    campaign_id: record.campaign_id,
    description: record.description,
    state: record.state,
  };
}

function view(record: TransmissionRecord, chunk: number) {
  return {
    transmission: {
      id: record.id,
      name: record.name,
      description: record.description,
      state: record.state,
      campaign_id: record.campaign_id,
      content: { template_id: record.template_id, use_draft_template: record.use_draft_template },
      ...(record.recipient_list_id ? { recipients: { list_id: record.recipient_list_id } } : {}),
      ...(record.start_time ? { start_time: sparkTime(record.start_time) } : {}),
      rcpt_list_chunk_size: chunk,
      rcpt_list_total_chunks: Math.ceil(record.num_rcpts / chunk),
      num_rcpts: record.num_rcpts,
      num_generated: record.num_generated,
      num_failed_gen: record.num_failed_gen,
      ...(record.generation_start_time
        ? { generation_start_time: sparkTime(record.generation_start_time) }
        : {}),
      ...(record.generation_end_time ? { generation_end_time: sparkTime(record.generation_end_time) } : {}),
      substitution_data: record.substitution_data,
      metadata: record.metadata,
      options: record.options,
    },
  };
}

export function transmissionRoutes(deps: ApiDeps): ApiRoute[] {
  return [
    route({
      method: 'POST',
      url: '/api/v1/transmissions',
      grant: 'transmissions/modify',
      summary: 'Send a message to each recipient (durable before the answer), or schedule it',
      tag: 'Transmissions',
      body: transmissionBody,
      query: transmissionQuery,
      results: transmissionResults,
      async handler({ key, body, query, request }) {
        return await submitTransmission(body, key, unmapIPv4(request.ip), query.num_rcpt_errors, deps);
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/transmissions',
      grant: 'transmissions/view',
      summary: 'List scheduled transmissions',
      tag: 'Transmissions',
      query: transmissionListQuery,
      results: transmissionSummary.array(),
      async handler({ query }) {
        const records = await deps.transmissions.listScheduled(query);
        return { results: records.map(summary) };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/transmissions/:id',
      grant: 'transmissions/view',
      summary: 'A transmission: state and counts',
      tag: 'Transmissions',
      params: transmissionParams,
      results: transmissionView,
      async handler({ params }) {
        const record = await deps.transmissions.get(params.id);
        if (!record) throw missing(params.id);
        return { results: view(record, deps.config.transmissions.generation_chunk) };
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/transmissions/:id',
      grant: 'transmissions/modify',
      summary: 'Cancel a scheduled transmission',
      tag: 'Transmissions',
      params: transmissionParams,
      async handler({ params }) {
        const outcome = await deps.transmissions.cancel(params.id);
        if (outcome.ok) {
          deps.log.info({ transmission_id: params.id }, 'transmission canceled');
          return undefined;
        }
        if (outcome.state === null) throw missing(params.id);
        throw new ApiError(409, {
          message: 'transmission database record is in an invalid state for deletion',
          code: '2006',
          description:
            outcome.state === 'Generating'
              ? 'Unable to delete a transmission that is in progress (state=Generating)'
              : `Unable to delete a transmission that is not scheduled (state=${outcome.state})`,
        });
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/transmissions',
      grant: 'transmissions/modify',
      summary: 'Cancel every scheduled transmission of a campaign',
      tag: 'Transmissions',
      query: cancelCampaignQuery,
      async handler({ query }) {
        const ids = await deps.transmissions.submittedInCampaign(query.campaign_id);
        let canceled = 0;
        for (const id of ids) if ((await deps.transmissions.cancel(id)).ok) canceled++;
        deps.log.info({ campaign_id: query.campaign_id, canceled }, 'campaign transmissions canceled');
        return undefined;
      },
    }),
  ];
}
