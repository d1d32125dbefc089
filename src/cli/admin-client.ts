/**
 * The CLI side of the admin interface: HTTP requests over the unix socket of a running `sluice
 * serve` (admin.socket under data_dir). NDJSON answers report progress through `onProgress` and
 * end with a result or an error; a refused connection says the server is not running.
 */
import http from 'node:http';
import { adminSocketPath } from '../admin/socket-path.js';
import type { Config } from '../config/schema.js';
import { AdminError } from './errors.js';

export { AdminError };

export async function adminRequest<T>(
  config: Config,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  onProgress?: (done: number, total: number) => void,
): Promise<T> {
  const socketPath = adminSocketPath(config);
  if (!socketPath) throw new AdminError('admin.socket is null: the admin interface is turned off', true);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return await new Promise<T>((resolve, reject) => {
    const request = http.request(
      {
        socketPath,
        method,
        path,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
      },
      (response) => {
        let buffered = '';
        let outcome: { result?: T; error?: string } | null = null;
        const ndjson = String(response.headers['content-type'] ?? '').startsWith('application/x-ndjson');
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          buffered += chunk;
          if (!ndjson) return;
          let end = buffered.indexOf('\n');
          while (end >= 0) {
            const line = JSON.parse(buffered.slice(0, end)) as {
              progress?: { done: number; total: number };
              result?: T;
              error?: string;
            };
            buffered = buffered.slice(end + 1);
            if (line.progress) onProgress?.(line.progress.done, line.progress.total);
            else outcome = line;
            end = buffered.indexOf('\n');
          }
        });
        response.on('end', () => {
          if (ndjson) {
            if (outcome?.error !== undefined) reject(new AdminError(outcome.error));
            else if (outcome && 'result' in outcome) resolve(outcome.result as T);
            else reject(new AdminError('the server ended the answer early'));
            return;
          }
          const parsed = JSON.parse(buffered || '{}') as T & { error?: string };
          if ((response.statusCode ?? 500) >= 400)
            reject(new AdminError(parsed.error ?? `HTTP ${response.statusCode}`));
          else resolve(parsed);
        });
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED')
        reject(new AdminError(`no sluice serve is running on ${socketPath}`, true));
      else reject(error);
    });
    request.end(payload);
  });
}

/** Progress on stderr: a counter line redrawn in place on a terminal, a line per report otherwise. */
export function progressPrinter(what: string): (done: number, total: number) => void {
  return (done, total) => {
    if (process.stderr.isTTY)
      process.stderr.write(`\r${what}: ${done}/${total}${done === total ? '\n' : ''}`);
    else process.stderr.write(`${what}: ${done}/${total}\n`);
  };
}
