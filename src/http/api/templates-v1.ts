/**
 * SparkPost's Templates API (grants templates/view to read and preview, templates/modify to
 * change). A template has a draft and a published version; transmissions use the published one
 * unless they ask for the draft. POST creates a draft (or, with `published: true`, a published
 * version); PUT changes the draft (made from the published version when there is none), or the
 * published version with ?update_published=true, and `published: true` publishes the draft. Every
 * part is compiled when stored: a syntax error is the 422 with code 3000, part and line. GET shows
 * the draft or published version (?draft=), by default the most recently changed one; preview
 * renders a version with the substitution data given. DELETE refuses (409) while a submitted or
 * generating transmission uses the template.
 */
import { randomBytes } from 'node:crypto';
import { TransmissionComposer, type TransmissionContent } from '../../core/compose.js';
import { previewContent } from '../../core/preview.js';
import { TemplateError } from '../../core/template/index.js';
import type { TemplateRecord, TemplateStore, TemplateVersion } from '../../store/types.js';
import {
  createTemplateBody,
  listTemplatesQuery,
  previewBody,
  templateParams,
  templateQuery,
  templateSummary,
  templateView,
  updateTemplateBody,
  updateTemplateQuery,
} from './content-schemas.js';
import { ApiError, conflict, invalidValue, templateInvalid } from './errors.js';
import type { ApiDeps } from './index.js';
import { type ApiRoute, route } from './route.js';
import { sparkTime } from './transmissions-v1.js';

type Which = 'draft' | 'published';

const notFound = (description: string) =>
  new ApiError(404, { message: 'resource not found', code: '1600', description });

/** Compiles every part, so a broken template is refused when stored, not when sent. */
function compile(content: unknown): void {
  try {
    new TransmissionComposer(content as TransmissionContent);
  } catch (error) {
    if (error instanceof TemplateError) throw templateInvalid(error);
    throw error;
  }
}

/** The version shown when the caller does not say: the most recently changed one. */
function latest(record: TemplateRecord): Which {
  if (!record.draft) return 'published';
  if (!record.published) return 'draft';
  return record.draft.updated >= record.published.updated ? 'draft' : 'published';
}

function pick(record: TemplateRecord, draft: boolean | undefined, fallback: (r: TemplateRecord) => Which) {
  const which: Which = draft === undefined ? fallback(record) : draft ? 'draft' : 'published';
  const version = record[which];
  if (!version) throw notFound(`template '${record.id}' has no ${which} version`);
  return { which, version };
}

function summary(record: TemplateRecord, which: Which, version: TemplateVersion) {
  return {
    id: record.id,
    name: version.name,
    description: version.description,
    published: which === 'published',
    has_draft: record.draft !== null,
    has_published: record.published !== null,
    shared_with_subaccounts: false,
    last_update_time: sparkTime(record.last_update_time),
    ...(record.last_use ? { last_use: sparkTime(record.last_use) } : {}),
  };
}

async function freeId(store: TemplateStore, name: string): Promise<string> {
  const base = name
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 56);
  if (!base) return randomBytes(8).toString('hex');
  for (let n = 1; n <= 20; n++) {
    const id = n === 1 ? base : `${base}-${n}`;
    if (!(await store.get(id))) return id;
  }
  return `${base}-${randomBytes(3).toString('hex')}`;
}

export function templateRoutes(deps: ApiDeps): ApiRoute[] {
  const store = deps.templates;
  const load = async (id: string) => {
    const record = await store.get(id);
    if (!record) throw notFound(`template '${id}' does not exist`);
    return record;
  };
  return [
    route({
      method: 'POST',
      url: '/api/v1/templates',
      grant: 'templates/modify',
      summary: 'Create a template (a draft, or published with published: true)',
      tag: 'Templates',
      body: createTemplateBody,
      async handler({ body }) {
        compile(body.content);
        const now = new Date().toISOString();
        const id = body.id ?? (await freeId(store, body.name!));
        const version: TemplateVersion = {
          name: body.name ?? id,
          description: body.description ?? '',
          content: body.content as Record<string, unknown>,
          options: body.options ?? {},
          updated: now,
        };
        const published = body.published === true;
        const record: TemplateRecord = {
          id,
          draft: published ? null : version,
          published: published ? version : null,
          published_version: published ? 1 : 0,
          last_update_time: now,
          last_use: null,
        };
        if (!(await store.insert(record))) throw conflict(`template with id '${id}' already exists`);
        return { results: { id } };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/templates',
      grant: 'templates/view',
      summary: 'List templates (their draft, published or most recent version)',
      tag: 'Templates',
      query: listTemplatesQuery,
      results: templateSummary.array(),
      async handler({ query }) {
        // No subaccounts: no template is shared with them.
        if (query.shared_with_subaccounts === true) return { results: [] };
        const results = [];
        for (const record of await store.list()) {
          const which: Which =
            query.draft === undefined ? latest(record) : query.draft ? 'draft' : 'published';
          const version = record[which];
          if (version) results.push(summary(record, which, version));
        }
        return { results };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/templates/:id',
      grant: 'templates/view',
      summary: 'A template (?draft=true|false; by default its most recent version)',
      tag: 'Templates',
      params: templateParams,
      query: templateQuery,
      results: templateView,
      async handler({ params, query }) {
        const record = await load(params.id);
        const { which, version } = pick(record, query.draft, latest);
        return {
          results: { ...summary(record, which, version), options: version.options, content: version.content },
        };
      },
    }),
    route({
      method: 'PUT',
      url: '/api/v1/templates/:id',
      grant: 'templates/modify',
      summary: 'Update the draft (or the published version), or publish the draft',
      tag: 'Templates',
      params: templateParams,
      query: updateTemplateQuery,
      body: updateTemplateBody,
      async handler({ params, query, body }) {
        const record = await load(params.id);
        if (body.content !== undefined) compile(body.content);
        const now = new Date().toISOString();
        const changes: Partial<TemplateVersion> = { updated: now };
        if (body.name !== undefined) changes.name = body.name;
        if (body.description !== undefined) changes.description = body.description;
        if (body.content !== undefined) changes.content = body.content as Record<string, unknown>;
        if (body.options !== undefined) changes.options = body.options;
        const next: TemplateRecord = { ...record, last_update_time: now };
        if (query.update_published === true) {
          if (body.published === true)
            throw invalidValue('published', 'cannot be combined with update_published');
          if (!record.published)
            throw invalidValue('update_published', `template '${record.id}' has no published version`);
          next.published = { ...record.published, ...changes };
        } else {
          // No draft yet: the new draft starts from the published version.
          const base = record.draft ?? record.published!;
          const draft = { ...base, ...changes };
          if (body.published === true) {
            next.published = draft;
            next.draft = null;
            next.published_version = record.published_version + 1;
          } else next.draft = draft;
        }
        if (!(await store.put(next))) throw notFound(`template '${params.id}' does not exist`);
        return { results: { id: params.id } };
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/templates/:id',
      grant: 'templates/modify',
      summary: 'Delete a template (both versions)',
      tag: 'Templates',
      params: templateParams,
      async handler({ params }) {
        await load(params.id);
        if (await deps.transmissions.inUse({ template_id: params.id }))
          throw conflict('Template is in use by msg generation');
        if (!(await store.delete(params.id))) throw notFound(`template '${params.id}' does not exist`);
        return {};
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/templates/:id/preview',
      grant: 'templates/view',
      summary: 'Render a template with substitution data (?draft=true|false; by default the published one)',
      tag: 'Templates',
      params: templateParams,
      query: templateQuery,
      body: previewBody,
      async handler({ params, query, body }) {
        const record = await load(params.id);
        const { version } = pick(record, query.draft, (r) => (r.published ? 'published' : 'draft'));
        const data = body.substitution_data ?? {};
        try {
          return {
            results: previewContent(version.content as unknown as TransmissionContent, {
              scopes: [data],
              dynamic: data,
            }),
          };
        } catch (error) {
          if (error instanceof TemplateError) throw templateInvalid(error);
          throw error;
        }
      },
    }),
  ];
}
