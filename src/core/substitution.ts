/**
 * SparkPost's basic substitution: `{{name}}` (or `{{a.b}}` for a nested value) is replaced by the
 * recipient's substitution_data, then the transmission's; an unknown key renders empty. In HTML,
 * `{{x}}` is HTML-escaped and `{{{x}}}` inserted as is, as SparkPost does. Only values are looked
 * up: no expressions, loops or conditionals (those belong to a template engine we do not have).
 */
export type SubstitutionData = Record<string, unknown>;

const TAG = /\{\{\{\s*([A-Za-z_][\w.]*)\s*\}\}\}|\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g;

export function lookup(path: string, ...scopes: (SubstitutionData | undefined)[]): unknown {
  const parts = path.split('.');
  for (const scope of scopes) {
    let value: unknown = scope;
    for (const part of parts) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) {
        value = undefined;
        break;
      }
      value = (value as Record<string, unknown>)[part];
    }
    if (value !== undefined) return value;
  }
  return undefined;
}

function render(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

/** Replaces every tag in `template`; scopes are searched in order (recipient first). */
export function substitute(
  template: string,
  scopes: (SubstitutionData | undefined)[],
  mode: 'text' | 'html' = 'text',
): string {
  if (!template.includes('{{')) return template;
  return template.replace(TAG, (_match, raw: string | undefined, plain: string | undefined) => {
    const value = render(lookup((raw ?? plain)!, ...scopes));
    return mode === 'html' && plain !== undefined ? escapeHtml(value) : value;
  });
}
