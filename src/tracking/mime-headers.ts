/**
 * The few header fields the tracking walk needs from a part's header section: content type and
 * its parameters (boundary, charset), transfer encoding, disposition, and whether a
 * DKIM-Signature is present. Lenient by design: what it cannot read, it treats as text/plain.
 */

export interface PartHeaders {
  type: string;
  params: Map<string, string>;
  cte: string | undefined;
  disposition: string;
  dkim: boolean;
}

/** The few header fields the walk needs, from an unfolded header section. */
export function parseHeaders(text: string): PartHeaders {
  const fields = new Map<string, string>();
  let dkim = false;
  for (const field of text.replace(/\r?\n(?=[ \t])/g, '').split(/\r?\n/)) {
    const colon = field.indexOf(':');
    if (colon <= 0) continue;
    const name = field.slice(0, colon).trim().toLowerCase();
    if (name === 'dkim-signature') dkim = true;
    if (!fields.has(name)) fields.set(name, field.slice(colon + 1).trim());
  }
  const [type, params] = splitParams(fields.get('content-type') ?? 'text/plain');
  const [disposition] = splitParams(fields.get('content-disposition') ?? '');
  return { type, params, cte: fields.get('content-transfer-encoding'), disposition, dkim };
}

/** `value; a=b; c="d"` → ['value', {a: 'b', c: 'd'}], names lowercased. */
function splitParams(value: string): [string, Map<string, string>] {
  const params = new Map<string, string>();
  const semi = value.indexOf(';');
  const head = (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
  const re = /;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]*))/g;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const name = m[1]!.toLowerCase();
    if (!params.has(name)) params.set(name, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
  }
  return [head || 'text/plain', params];
}
