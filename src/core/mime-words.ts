/**
 * Just enough RFC 2047 to show a Subject or From in events as a person reads it:
 * encoded-words (=?charset?B|Q?text?=) decoded with the platform's TextDecoder; and to write a
 * header value that is not plain ASCII (UTF-8 B-encoded words).
 */
const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

export function decodeMimeWords(value: string): string {
  // Whitespace between two adjacent encoded-words is not part of the text (RFC 2047 section 6.2).
  const joined = value.replace(/(=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)\s+(?==\?)/g, '$1');
  return joined.replace(ENCODED_WORD, (word, charset: string, encoding: string, text: string) => {
    try {
      const bytes =
        encoding.toUpperCase() === 'B'
          ? Buffer.from(text, 'base64')
          : Buffer.from(
              text
                .replace(/_/g, ' ')
                .replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
              'latin1',
            );
      return new TextDecoder(charset.split('*')[0]!.toLowerCase()).decode(bytes);
    } catch {
      return word;
    }
  });
}

/** The address part of a From header value: "Name <a@b>" → "a@b". */
export function addressOf(value: string): string {
  const angle = /<([^<>]*)>/.exec(value);
  return (angle ? angle[1]! : value).trim();
}

/** RFC 2047 B-encoding in words of at most 75 characters, never splitting a character. */
export function encodeMimeWords(text: string): string {
  const words: string[] = [];
  let chunk = '';
  for (const char of text) {
    if (Buffer.byteLength(chunk + char) > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += char;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join(' ');
}
