/**
 * One declaration per endpoint: method, path, the grant it needs, and the zod schemas of its
 * body, query and path parameters. The same declaration registers the fastify route (auth,
 * rate limit, validation into 422 naming the field) and feeds the OpenAPI document, so what is
 * validated and what is documented cannot drift apart. Handlers get parsed, typed input and
 * return the JSON body to send (undefined: 204 No Content).
 *
 * The key, its grant and the rate are checked in onRequest, from the headers alone, before a
 * byte of the body is read: a request without a valid key costs its headers and nothing else
 * (listener-limits.ts drops what still comes, within a small bound, then closes). Only then may
 * the body be as large as http.max_body.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Grant } from '../../core/grants.js';
import type { KeyService } from '../../core/keys.js';
import type { RequestRate } from '../../core/request-rate.js';
import type { ApiKeyRecord } from '../../store/types.js';
import { authorize } from './auth.js';
import { fromZod } from './errors.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteContext<B, Q, P> {
  key: ApiKeyRecord;
  body: B;
  query: Q;
  params: P;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface ApiRoute<
  B extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  P extends z.ZodType = z.ZodType,
> {
  method: Method;
  /** fastify syntax: /api/v1/api-keys/:id */
  url: string;
  /** null: any valid key may call it. */
  grant: Grant | null;
  summary: string;
  tag: string;
  body?: B;
  query?: Q;
  params?: P;
  /** Schema of `results` in a 200 answer, for the OpenAPI document. */
  results?: z.ZodType;
  handler(context: RouteContext<z.output<B>, z.output<Q>, z.output<P>>): Promise<unknown>;
}

/** Identity function that lets TypeScript infer the handler's input types from the schemas. */
export function route<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType>(
  spec: ApiRoute<B, Q, P>,
): ApiRoute {
  return spec as unknown as ApiRoute;
}

export interface RouterDeps {
  keys: KeyService;
  rate: RequestRate;
  /** Largest body, in bytes, once the key is known (http.max_body). */
  maxBody: number;
}

export function registerRoutes(app: FastifyInstance, routes: readonly ApiRoute[], deps: RouterDeps): void {
  const callers = new WeakMap<FastifyRequest, ApiKeyRecord>();
  for (const spec of routes) {
    app.route({
      method: spec.method,
      url: spec.url,
      bodyLimit: deps.maxBody,
      onRequest: async (request) => {
        const key = await authorize(
          deps.keys,
          deps.rate,
          request.headers.authorization,
          request.ip,
          spec.grant,
        );
        callers.set(request, key);
      },
      handler: async (request, reply) => {
        const key = callers.get(request);
        // onRequest either set it or answered; a request here without one is a wiring bug.
        if (!key) throw new Error(`no authorized key for ${spec.method} ${spec.url}`);
        const body = parse(spec.body, request.body, 'body');
        const query = parse(spec.query, request.query, 'query');
        const params = parse(spec.params, request.params, 'params');
        const result = await spec.handler({ key, body, query, params, request, reply });
        if (reply.sent) return reply;
        if (result === undefined) return reply.code(204).send();
        return reply.code(reply.statusCode === 200 ? 200 : reply.statusCode).send(result);
      },
    });
  }
}

function parse(schema: z.ZodType | undefined, value: unknown, where: 'body' | 'query' | 'params'): unknown {
  if (!schema) return value;
  const result = schema.safeParse(value);
  if (!result.success) throw fromZod(result.error, where);
  return result.data;
}
