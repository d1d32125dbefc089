/**
 * The console page's files, as `npm run build` left them in dist/console (web/build.ts): the
 * index page and the bundled assets, whose names carry a hash of their content. Read once, at
 * start, with gzip and brotli forms made then. Assets are served `immutable` for a year (a new
 * build has new names); the index is revalidated on every load (no-cache with an ETag), so a new
 * build is picked up by the next reload. Without a build, /console/ answers 503 saying so.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** dist/console, next to dist/src where this file is compiled to. */
export const BUILT_ASSETS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../console',
);

interface StaticFile {
  type: string;
  etag: string;
  plain: Buffer;
  gzip: Buffer | null;
  brotli: Buffer | null;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
};

export const IMMUTABLE = 'public, max-age=31536000, immutable';

export class StaticFiles {
  private constructor(
    readonly index: StaticFile | null,
    private readonly assets: ReadonlyMap<string, StaticFile>,
  ) {}

  static load(dir: string = BUILT_ASSETS_DIR): StaticFiles {
    const indexFile = path.join(dir, 'index.html');
    if (!existsSync(indexFile)) return new StaticFiles(null, new Map());
    const assets = new Map<string, StaticFile>();
    const assetDir = path.join(dir, 'assets');
    for (const name of existsSync(assetDir) ? readdirSync(assetDir) : []) {
      const type = TYPES[path.extname(name)];
      if (type) assets.set(name, prepare(readFileSync(path.join(assetDir, name)), type));
    }
    return new StaticFiles(prepare(readFileSync(indexFile), TYPES['.html']!), assets);
  }

  asset(name: string): StaticFile | undefined {
    return this.assets.get(name);
  }
}

function prepare(plain: Buffer, type: string): StaticFile {
  const compressible = !type.startsWith('font/') && plain.length > 512;
  return {
    type,
    etag: `"${createHash('sha256').update(plain).digest('base64url').slice(0, 27)}"`,
    plain,
    gzip: compressible ? gzipSync(plain, { level: 9 }) : null,
    brotli: compressible ? brotliCompressSync(plain) : null,
  };
}

/** Sends a file in the best encoding the client accepts; 304 when its ETag still matches. */
export function sendStatic(
  request: FastifyRequest,
  reply: FastifyReply,
  file: StaticFile,
  cacheControl: string,
): FastifyReply {
  reply.header('cache-control', cacheControl).header('etag', file.etag).header('vary', 'accept-encoding');
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  const accepted = String(request.headers['accept-encoding'] ?? '');
  reply.type(file.type);
  if (file.brotli && /\bbr\b/.test(accepted)) return reply.header('content-encoding', 'br').send(file.brotli);
  if (file.gzip && /\bgzip\b/.test(accepted)) return reply.header('content-encoding', 'gzip').send(file.gzip);
  return reply.send(file.plain);
}
