/**
 * Parses one part of a template (html, text, amp_html or a header) into a tree: text, outputs
 * (`{{ expr }}` escaped, `{{{ expr }}}` raw), `{{if}}…{{elseif}}…{{else}}…{{end}}` and
 * `{{each array}}…{{end}}`. Rules from SparkPost's template language reference:
 * - whitespace inside the braces does not matter; `then` may end an if or elseif;
 * - a statement produces no output, and the blanks after it up to and including its line break
 *   are dropped, so a statement on its own line leaves no blank line (indentation that follows
 *   is kept, as the nested-loop example shows);
 * - in html, amp_html and text, an expression inside a link (a run starting with http:// or
 *   https:// up to a space, quote, `<` or `>`) is URL-encoded instead of HTML-escaped;
 * - in amp_html, a tag inside `<template type="amp-mustache">` is left as written (it is
 *   amp-mustache's, not ours) unless it mentions "sparkpost" or loop_var, is a curly-brace macro,
 *   or is an else or end.
 * Errors are syntax errors with the line of the tag (the compiler adds the part).
 */
import { TemplateSyntaxError } from './errors.js';
import { type Expr, parseTokens } from './expression.js';
import { near, tokenize } from './lexer.js';

export type PartKind = 'html' | 'amp_html' | 'text' | 'header';

export type Node =
  | { t: 'text'; text: string }
  | { t: 'output'; expr: Expr; raw: boolean; link: boolean; line: number }
  | { t: 'if'; branches: Branch[]; otherwise: Node[] | null }
  | { t: 'each'; expr: Expr; name: string | null; body: Node[]; line: number };

export interface Branch {
  cond: Expr;
  body: Node[];
  line: number;
}

/** A syntax error at a line (1-based) of the part. */
export class LineError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

type Statement =
  | { s: 'if' | 'elseif'; cond: Expr }
  | { s: 'else' | 'end' }
  | { s: 'each'; expr: Expr; name: string | null };

type Segment =
  | { t: 'text'; text: string }
  | { t: 'output'; expr: Expr; raw: boolean; link: boolean; line: number }
  | { t: 'statement'; statement: Statement; line: number };

const URL_START = /https?:\/\//i;
const LINK_END = /[\s"'<>]/;
const AMP_OPEN = /<template\b[^>]*\btype\s*=\s*["']?amp-mustache\b[^>]*>/gi;
const AMP_CLOSE = /<\/template\s*>/gi;
const CURLY_MACRO = /^\s*(?:opening|closing)_(?:double|triple)_curly\s*\(\s*\)\s*$/;

export function parseTemplate(source: string, kind: PartKind): Node[] {
  const segments = scan(source, kind);
  let at = 0;
  const block = (closers: ReadonlySet<string>): { nodes: Node[]; closer: Segment | null } => {
    const nodes: Node[] = [];
    while (at < segments.length) {
      const segment = segments[at++]!;
      if (segment.t !== 'statement') {
        nodes.push(segment);
        continue;
      }
      const { statement, line } = segment;
      if (closers.has(statement.s)) return { nodes, closer: segment };
      if (statement.s === 'if') nodes.push(ifNode(statement.cond, line));
      else if (statement.s === 'each') {
        const body = block(END);
        if (!body.closer) throw new LineError(line, "'end' expected to close 'each'");
        nodes.push({ t: 'each', expr: statement.expr, name: statement.name, body: body.nodes, line });
      } else throw new LineError(line, `syntax error near '${statement.s}'`);
    }
    return { nodes, closer: null };
  };
  const ifNode = (cond: Expr, line: number): Node => {
    const branches: Branch[] = [];
    let current = { cond, line };
    for (;;) {
      const body = block(IF_CLOSERS);
      const closer = body.closer;
      if (closer?.t !== 'statement') throw new LineError(line, "'end' expected to close 'if'");
      branches.push({ ...current, body: body.nodes });
      const next = closer.statement;
      if (next.s === 'end') return { t: 'if', branches, otherwise: null };
      if (next.s === 'else') {
        const rest = block(END);
        if (!rest.closer) throw new LineError(closer.line, "'end' expected to close 'if'");
        return { t: 'if', branches, otherwise: rest.nodes };
      }
      if (next.s !== 'elseif') throw new LineError(closer.line, `syntax error near '${next.s}'`);
      current = { cond: next.cond, line: closer.line };
    }
  };
  const top = block(NONE);
  if (top.closer?.t === 'statement')
    throw new LineError(top.closer.line, `syntax error near '${top.closer.statement.s}'`);
  return top.nodes;
}

const NONE = new Set<string>();
const END = new Set(['end']);
const IF_CLOSERS = new Set(['elseif', 'else', 'end']);

/** Splits the source into text, outputs and statements, tracking links and amp-mustache regions. */
function scan(source: string, kind: PartKind): Segment[] {
  const segments: Segment[] = [];
  let inLink = false;
  let inAmp = false;
  let pos = 0;
  let line = 1;
  const text = (s: string) => {
    if (!s) return;
    segments.push({ t: 'text', text: s });
    if (kind !== 'header') inLink = linkAfter(s, inLink);
    if (kind === 'amp_html') inAmp = ampAfter(s, inAmp);
  };
  for (;;) {
    const open = source.indexOf('{{', pos);
    if (open === -1) {
      text(source.slice(pos));
      return segments;
    }
    line += countLines(source, pos, open);
    text(source.slice(pos, open));
    const raw = source.startsWith('{{{', open);
    const start = open + (raw ? 3 : 2);
    const close = findClose(source, start, raw ? '}}}' : '}}');
    if (close === -1) throw new LineError(line, `syntax error near '${source.slice(open, open + 20)}'`);
    const inner = source.slice(start, close);
    const end = close + (raw ? 3 : 2);
    if (inAmp && !ourTagInAmp(inner)) {
      segments.push({ t: 'text', text: source.slice(open, end) });
      line += countLines(source, open, end);
      pos = end;
      continue;
    }
    const tagLine = line;
    line += countLines(source, open, end);
    pos = end;
    let statement: Statement | null;
    try {
      statement = parseStatement(inner);
      if (statement && raw) throw new TemplateSyntaxError(`syntax error near '${statement.s}'`);
      if (!statement) {
        const expr = parseTokens(tokenize(inner));
        segments.push({ t: 'output', expr, raw, link: inLink && kind !== 'header', line: tagLine });
        continue;
      }
    } catch (error) {
      if (error instanceof TemplateSyntaxError) throw new LineError(tagLine, error.message);
      throw error;
    }
    segments.push({ t: 'statement', statement, line: tagLine });
    // A statement prints nothing: the blanks after it and its line break go with it.
    const eaten = /^[ \t]*(?:\r?\n)?/.exec(source.slice(pos))![0];
    if (kind !== 'header' && eaten) inLink = linkAfter(eaten, inLink);
    line += countLines(source, pos, pos + eaten.length);
    pos += eaten.length;
  }
}

function parseStatement(inner: string): Statement | null {
  const tokens = tokenize(inner);
  const first = tokens[0];
  if (!first) throw new TemplateSyntaxError('syntax error: empty expression');
  if (first.kind !== 'keyword') return null;
  switch (first.text) {
    case 'if':
    case 'elseif': {
      const rest = tokens.slice(1);
      if (rest.at(-1)?.kind === 'keyword' && rest.at(-1)?.text === 'then') rest.pop();
      return { s: first.text, cond: parseTokens(rest) };
    }
    case 'else':
    case 'end':
      if (tokens.length > 1) throw near(tokens[1]!.text);
      return { s: first.text };
    case 'each': {
      const expr = parseTokens(tokens.slice(1));
      return { s: 'each', expr, name: loopName(expr) };
    }
    default:
      // not, true, false and nil start expressions; every other keyword is reserved.
      if (['not', 'true', 'false', 'nil'].includes(first.text)) return null;
      throw near(first.text);
  }
}

/** The name `loop_vars` knows an array by: its last static key (`a.b[2].items` → items). */
function loopName(expr: Expr): string | null {
  if (expr.k === 'name') return expr.name;
  if (expr.k === 'index' && expr.key.k === 'literal' && typeof expr.key.value === 'string')
    return expr.key.value;
  return null;
}

/** The end of a tag: the first closing braces outside a quoted string. */
function findClose(source: string, from: number, closing: string): number {
  let quote: string | null = null;
  for (let i = from; i < source.length; i++) {
    const c = source[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (source.startsWith(closing, i)) return i;
  }
  return -1;
}

function countLines(source: string, from: number, to: number): number {
  let n = 0;
  for (let i = source.indexOf('\n', from); i !== -1 && i < to; i = source.indexOf('\n', i + 1)) n++;
  return n;
}

/** Whether the text leaves us inside a link: after its last blank, quote or bracket, a URL starts. */
function linkAfter(text: string, before: boolean): boolean {
  let lastEnd = -1;
  for (let i = text.length - 1; i >= 0; i--) {
    if (LINK_END.test(text[i]!)) {
      lastEnd = i;
      break;
    }
  }
  if (lastEnd === -1) return before || URL_START.test(text);
  return URL_START.test(text.slice(lastEnd + 1));
}

/** Whether the text leaves us inside an amp-mustache <template>. */
function ampAfter(text: string, before: boolean): boolean {
  const marks: { at: number; open: boolean }[] = [];
  for (const m of text.matchAll(AMP_OPEN)) marks.push({ at: m.index, open: true });
  for (const m of text.matchAll(AMP_CLOSE)) marks.push({ at: m.index, open: false });
  if (marks.length === 0) return before;
  marks.sort((a, b) => a.at - b.at);
  return marks.at(-1)!.open;
}

/** Inside amp-mustache, the tags SparkPost still renders itself. */
function ourTagInAmp(inner: string): boolean {
  const trimmed = inner.trim();
  return (
    /sparkpost/i.test(inner) ||
    inner.includes('loop_var') ||
    CURLY_MACRO.test(inner) ||
    trimmed === 'else' ||
    trimmed === 'end'
  );
}
