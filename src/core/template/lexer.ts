/**
 * Tokens of what stands between `{{` and `}}` in SparkPost's template language: names, numbers,
 * quoted strings ('…' or "…"), the operators of its documentation (== != < > <= >= # and or not),
 * brackets, dots, commas and parentheses. Anything else is a syntax error naming what was found,
 * in SparkPost's words ("syntax error near 'x'").
 */
import { TemplateSyntaxError } from './errors.js';

export type TokenKind = 'name' | 'number' | 'string' | 'op' | 'keyword';

export interface Token {
  kind: TokenKind;
  text: string;
  /** The literal's value for strings and numbers. */
  value?: string | number;
}

/**
 * Words the language keeps for itself (SparkPost's list, which is Lua's): none of them may be used
 * as a variable name. true, false and nil are literals; the others are statements or operators.
 */
export const KEYWORDS = new Set([
  'and',
  'break',
  'do',
  'each',
  'else',
  'elseif',
  'end',
  'false',
  'for',
  'function',
  'if',
  'in',
  'local',
  'nil',
  'not',
  'or',
  'repeat',
  'return',
  'then',
  'true',
  'until',
  'while',
]);

const OPERATORS = ['==', '!=', '<=', '>=', '<', '>', '#', '(', ')', '[', ']', '.', ',', '-'];
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i));
    if (word) {
      const text = word[0];
      tokens.push({ kind: KEYWORDS.has(text) ? 'keyword' : 'name', text });
      i += text.length;
      continue;
    }
    const number = /^\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(source.slice(i));
    if (number) {
      tokens.push({ kind: 'number', text: number[0], value: Number(number[0]) });
      i += number[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      let value = '';
      let j = i + 1;
      for (; j < source.length && source[j] !== c; j++) {
        if (source[j] === '\\' && j + 1 < source.length) {
          const escaped = ESCAPES[source[j + 1]!];
          if (escaped === undefined) throw near(source.slice(j, j + 2));
          value += escaped;
          j++;
        } else value += source[j];
      }
      if (j >= source.length) throw new TemplateSyntaxError(`unfinished string near '${source.slice(i)}'`);
      tokens.push({ kind: 'string', text: source.slice(i, j + 1), value });
      i = j + 1;
      continue;
    }
    const op = OPERATORS.find((o) => source.startsWith(o, i));
    if (!op) throw near(source.slice(i));
    tokens.push({ kind: 'op', text: op });
    i += op.length;
  }
  return tokens;
}

/** SparkPost's wording for a token it did not expect. */
export function near(text: string): TemplateSyntaxError {
  const shown = text.length > 20 ? `${text.slice(0, 20)}…` : text;
  return new TemplateSyntaxError(`syntax error near '${shown}'`);
}
