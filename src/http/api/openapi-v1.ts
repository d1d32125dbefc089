/**
 * GET /api/v1/openapi.json: the OpenAPI 3.1 document, generated from the very route declarations
 * and zod schemas that validate requests (no hand-written copy to drift). Public: a client
 * generator needs it before it has a key.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiRoute } from './route.js';
import { errorsSchema } from './schemas.js';

type Json = Record<string, unknown>;

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output'): Json =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;

export function openApiDocument(routes: readonly ApiRoute[], version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const spec of routes) {
    const path = spec.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const parameters: Json[] = [];
    for (const [where, schema] of [
      ['path', spec.params],
      ['query', spec.query],
    ] as const) {
      if (!schema) continue;
      const shape = jsonSchema(schema, 'input');
      const required = new Set((shape.required as string[] | undefined) ?? []);
      for (const [name, property] of Object.entries((shape.properties as Json | undefined) ?? {}))
        parameters.push({
          name,
          in: where,
          required: where === 'path' || required.has(name),
          schema: property,
        });
    }
    const ok: Json = { description: 'OK' };
    if (spec.results)
      ok.content = {
        'application/json': {
          schema: { type: 'object', properties: { results: jsonSchema(spec.results, 'output') } },
        },
      };
    const error = {
      description: 'SparkPost-style error',
      content: { 'application/json': { schema: jsonSchema(errorsSchema, 'output') } },
    };
    const operation: Json = {
      summary: spec.summary,
      tags: [spec.tag],
      security: [{ apiKey: [] }],
      'x-sluice-grant': spec.grant,
      parameters,
      responses: {
        [spec.method === 'DELETE' ? '204' : '200']:
          spec.method === 'DELETE' ? { description: 'Deleted' } : ok,
        '401': error,
        '403': error,
        '422': error,
        '429': error,
      },
    };
    if (spec.body)
      operation.requestBody = {
        required: true,
        content: { 'application/json': { schema: jsonSchema(spec.body, 'input') } },
      };
    paths[path] ??= {};
    paths[path]![spec.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Sluice HTTP API (SparkPost-compatible)', version },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'Authorization' } },
    },
    paths,
  };
}

export function registerOpenApi(app: FastifyInstance, routes: readonly ApiRoute[], version: string): void {
  let document: Json | null = null;
  app.get('/api/v1/openapi.json', async (_request, reply) => {
    document ??= openApiDocument(routes, version);
    return reply.header('cache-control', 'no-cache').send(document);
  });
}
