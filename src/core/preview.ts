/**
 * A template's content rendered for one set of substitution data, field by field, as SparkPost's
 * preview answers it: from (string or {email, name}), subject, reply_to, text, html, amp_html and
 * headers rendered, or the whole email_rfc822 message. No MIME is built and nothing is escaped
 * beyond what the language itself does. A syntax error throws TemplateError 'compiling', a
 * failure for this data TemplateError 'rendering'.
 */
import type { InlineContent, TransmissionContent } from './compose.js';
import { Rfc822Template } from './rfc822-template.js';
import { type PartKind, type RenderData, renderPart } from './template/index.js';

export function previewContent(content: TransmissionContent, data: RenderData): Record<string, unknown> {
  if ('email_rfc822' in content)
    return { email_rfc822: new Rfc822Template(content.email_rfc822).render(data).toString('utf8') };
  const inline: InlineContent = content;
  const render = (value: string | undefined, kind: PartKind, part: string) =>
    value === undefined ? undefined : renderPart(value, kind, part, data);
  const header = (value: string | undefined, name: string) => render(value, 'header', `Header:${name}`);
  const out: Record<string, unknown> = {
    from:
      typeof inline.from === 'string'
        ? header(inline.from, 'From')
        : {
            email: header(inline.from.email, 'From'),
            ...(inline.from.name !== undefined ? { name: header(inline.from.name, 'From') } : {}),
          },
    subject: header(inline.subject, 'Subject'),
    reply_to: header(inline.reply_to, 'Reply-To'),
    text: render(inline.text, 'text', 'text'),
    html: render(inline.html, 'html', 'html'),
    amp_html: render(inline.amp_html, 'amp_html', 'amp_html'),
  };
  if (inline.headers) {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(inline.headers)) headers[name] = header(value, name)!;
    out.headers = headers;
  }
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}
