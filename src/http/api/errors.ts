/**
 * SparkPost-shaped errors for the API: every failure answers
 * `{"errors":[{"message","code","description"}]}` with the HTTP status SparkPost uses.
 * ApiError is what handlers throw; apiErrorHandler turns it, zod failures and fastify's own
 * errors (malformed JSON 400, body too large 413) into that shape. Nothing here crashes a request
 * it does not understand: an unexpected error is a logged 500 with no detail leaked.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { TemplateError } from '../../core/template/index.js';
import type { Logger } from '../../log.js';
import { isStoreOutage, outageSummary } from '../../store/outage.js';
import { InvalidCursorError } from '../../store/types.js';

export interface ErrorBody {
  message: string;
  code?: string;
  description?: string;
  /** Template errors (SparkPost's): the part (html, text, Header:Subject…) and its line. */
  part?: string;
  line?: number;
  /** Every schema violation of a JSON parameter (the Metrics API's query_filters). */
  validationErrors?: string[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.description ?? body.message);
  }
}

export const unauthorized = () => new ApiError(401, { message: 'Unauthorized.' });
/** SparkPost's 403, with a description of what the key lacks (the grant, or the address). */
export const forbidden = (description: string) => new ApiError(403, { message: 'Forbidden.', description });
export const notFound = (description = 'resource not found') =>
  new ApiError(404, { message: 'resource not found', code: '1600', description });
export const conflict = (description: string) =>
  new ApiError(409, { message: 'resource conflict', code: '1602', description });
export const invalidValue = (field: string, problem: string) =>
  new ApiError(422, {
    message: 'invalid data format/type',
    code: '1300',
    description: `${field}: ${problem}`,
  });

/** A template that does not compile (or a preview that does not render), in SparkPost's shape. */
export const templateInvalid = (error: TemplateError) =>
  new ApiError(422, {
    message:
      error.phase === 'compiling'
        ? 'substitution language syntax error in template content'
        : 'substitution language error while rendering template content',
    code: '3000',
    description: error.message,
    part: error.part,
    line: error.line,
  });

/** The first zod issue as a 422 naming the field by its dotted path (`recipients.0.address`). */
export function fromZod(error: z.ZodError, where: 'body' | 'query' | 'params'): ApiError {
  const issue = error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.join('.') : where;
  const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
  if (missing)
    return new ApiError(422, {
      message: 'required field is missing',
      code: '1400',
      description: `${field} is required`,
    });
  return invalidValue(field, issue.message);
}

export function sendError(reply: FastifyReply, error: ApiError) {
  return reply
    .code(error.status)
    .headers(error.headers)
    .send({ errors: [error.body] });
}

/** fastify's error handler for everything under /api: SparkPost's shape, never a stack trace. */
export function apiErrorHandler(log: Logger) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof ApiError) return sendError(reply, error);
    const status = error.statusCode ?? 500;
    if (status === 413)
      return sendError(reply, new ApiError(413, { message: 'request body too large', code: '1301' }));
    if (status === 415)
      return sendError(
        reply,
        new ApiError(415, { message: 'unsupported media type', description: 'send application/json' }),
      );
    if (status >= 400 && status < 500)
      return sendError(
        reply,
        new ApiError(400, { message: 'invalid JSON', code: '1300', description: error.message }),
      );
    if (isStoreOutage(error)) {
      // The outage is logged once by the store's client; each request only says what it got.
      log.debug({ url: request.url, method: request.method, ...outageSummary(error) }, 'API request: 503');
      return sendError(
        reply,
        new ApiError(
          503,
          { message: 'Service Unavailable', description: 'the store is not answering; try again later' },
          { 'retry-after': '5' },
        ),
      );
    }
    log.error({ err: error, url: request.url, method: request.method }, 'API request failed');
    return sendError(reply, new ApiError(500, { message: 'internal error', code: '1000' }));
  };
}

/** Runs a paged store query; a cursor the store did not write is the client's 422 on `cursor`. */
export async function withCursor<T>(query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (error) {
    if (error instanceof InvalidCursorError) throw invalidValue('cursor', 'is not a cursor this server gave');
    throw error;
  }
}
