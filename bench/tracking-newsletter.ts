/**
 * The benchmark's workload message: a 50 KB newsletter shaped like the ones ESPs send —
 * multipart/alternative with a quoted-printable text part and a quoted-printable HTML part of
 * nested layout tables, ~80 links (UTM query strings, a few named or opted out, mailto and
 * anchors), images and an Outlook conditional block. Deterministic, so every run rewrites the
 * same bytes.
 */

function qp(text: string): string {
  const out: string[] = [];
  for (const line of Buffer.from(text, 'utf8').toString('latin1').split('\n')) {
    let current = '';
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      const plain = (c >= 33 && c <= 126 && c !== 61) || (c === 32 && i < line.length - 1);
      const token = plain ? line[i]! : `=${c.toString(16).toUpperCase().padStart(2, '0')}`;
      if (current.length + token.length > 75) {
        out.push(`${current}=`);
        current = '';
      }
      current += token;
    }
    out.push(current);
  }
  return out.join('\r\n');
}

function product(i: number): string {
  const url = `https://shop.example/p/${1000 + i}?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=week-${i % 7}`;
  const name = i % 5 === 0 ? ` data-msys-linkname="product-${i}"` : '';
  return `<td width="50%" valign="top" style="padding:10px;font-family:Arial,sans-serif;font-size:14px;color:#333333">
  <a href="${url}"${name}><img src="https://cdn.shop.example/img/${i}.jpg" width="280" alt="Product ${i}" style="display:block;border:0"></a>
  <p style="margin:8px 0">Handmade item ${i}: natural materials, careful work, and a price that stays fair — €${19 + i}</p>
  <a href="${url}&amp;cta=1" style="background:#d62828;color:#ffffff;padding:8px 16px;text-decoration:none">Shop now</a>
 </td>`;
}

export function newsletterHtml(targetBytes = 44_000): string {
  const rows: string[] = [];
  for (let i = 0; rows.join('').length < targetBytes - 3000; i += 2)
    rows.push(`<tr>\n ${product(i)}\n ${product(i + 1)}\n</tr>`);
  return `<!DOCTYPE html>
<html lang="en" xmlns:v="urn:schemas-microsoft-com:vml"><head><meta charset="utf-8"><title>This week</title>
<!--[if mso]><style>table{border-collapse:collapse}</style><![endif]--></head>
<body style="margin:0;padding:0;background:#eeeeee">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="background:#ffffff">
<tr><td colspan="2"><a href="#top" name="top"></a><a href="https://shop.example/?utm_source=newsletter" data-msys-linkname="logo"><img src="https://cdn.shop.example/logo.png" alt="Shop"></a></td></tr>
<!--[if mso]><tr><td colspan="2"><v:roundrect href="https://shop.example/mso">Outlook</v:roundrect></td></tr><![endif]-->
${rows.join('\n')}
<tr><td colspan="2" style="font-size:11px;color:#777777">Questions? <a href="mailto:help@shop.example">help@shop.example</a>.
<a href="https://shop.example/unsubscribe?u=123&amp;s=abc" data-msys-clicktrack="0">Unsubscribe</a></td></tr>
</table></td></tr></table>
</body>
</html>
`;
}

export function newsletterMessage(): Buffer {
  const html = newsletterHtml();
  const text = Array.from(
    { length: 20 },
    (_, i) => `Item ${i}: https://shop.example/p/${1000 + i}?utm_source=newsletter&utm_medium=email`,
  ).join('\n');
  const message = [
    'From: "Shop" <news@shop.example>',
    'To: alice@one.example',
    'Subject: This week at the shop',
    'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="=_news_1"',
    '',
    '--=_news_1',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    qp(text),
    '--=_news_1',
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    qp(html),
    '--=_news_1--',
    '',
  ].join('\r\n');
  return Buffer.from(message, 'latin1');
}
