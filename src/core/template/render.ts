/**
 * Renders a parsed part for one recipient. Variables are looked up, highest first, in the loop
 * variables (loop_var, loop_index, loop_vars inside an each), the reserved recipient variables
 * (address, email, email_id, env_from, return_path), then the data scopes the caller orders as
 * SparkPost does (recipient substitution_data, recipient metadata, transmission substitution_data,
 * transmission metadata); a key that is absent or null falls through to the next scope.
 *
 * Output: nil is empty, numbers print as Lua prints them (%.14g: 5.00 → 5), booleans as
 * true/false, objects and arrays as JSON. In html and amp_html, `{{x}}` is HTML-escaped as in
 * SparkPost's example (& < > " ' /); inside a link it is URL-encoded instead (RFC 3986 unreserved
 * characters kept: "Daily Deal!" → Daily%20Deal%21); `{{{x}}}` is inserted as is. Macros:
 * render_dynamic_content (a transmission-level dynamic_html, dynamic_plain or dynamic_amp_html
 * value rendered as a template itself, never escaped), empty, and the four curly-brace macros.
 * loop_index counts from 1, as the language's array indexes do. Work is bounded: output past a
 * size, or too many steps (loops that print nothing over large data), is a render error.
 */
import { TemplateError, TemplateRuntimeError } from './errors.js';
import { type Environment, type Expr, evaluate, luaType, truthy, type Value } from './expression.js';
import type { Node, PartKind } from './parse.js';

export type Scope = Readonly<Record<string, unknown>> | undefined;

export interface RenderData {
  /** Data scopes, highest precedence first. */
  scopes: readonly Scope[];
  /** The recipient's reserved variables; they win over every data scope. */
  reserved?: Scope;
  /** Transmission-level substitution_data: the only home of dynamic_html/plain/amp_html. */
  dynamic?: Scope;
}

/** Compiles a dynamic content chunk (supplied by index.ts, which owns compilation and its cache). */
export type ChunkCompiler = (source: string, kind: PartKind, part: string) => readonly Node[];

export const DYNAMIC_ROOTS = new Set(['dynamic_html', 'dynamic_plain', 'dynamic_amp_html']);
const MAX_DYNAMIC_DEPTH = 8;
/** Nodes visited per rendering, at most: nested loops that print nothing must still end soon. */
const MAX_STEPS = 2_000_000;
const CURLIES: Record<string, string> = {
  opening_double_curly: '{{',
  closing_double_curly: '}}',
  opening_triple_curly: '{{{',
  closing_triple_curly: '}}}',
};

/** A macro's result that is already final text: never escaped or encoded. */
class Verbatim {
  constructor(readonly text: string) {}
}

interface Loop {
  name: string | null;
  value: Value;
  index: number;
}

export class PartRenderer implements Environment {
  private readonly out: string[] = [];
  private length = 0;
  private readonly loops: Loop[] = [];
  private depth = 0;
  private steps = 0;

  constructor(
    private readonly part: string,
    private readonly kind: PartKind,
    private readonly data: RenderData,
    private readonly compileChunk: ChunkCompiler,
    /** Largest output, in characters: a loop over large data must not exhaust memory. */
    private readonly maxLength: number,
  ) {}

  render(nodes: readonly Node[]): string {
    this.nodes(nodes);
    return this.out.join('');
  }

  variable(name: string): Value {
    const loop = this.loops.at(-1);
    if (loop && name === 'loop_var') return loop.value;
    if (loop && name === 'loop_index') return loop.index;
    if (loop && name === 'loop_vars') {
      const vars: Record<string, Value> = {};
      for (const each of this.loops) if (each.name !== null) vars[each.name] = each.value;
      return vars;
    }
    const reserved = this.data.reserved;
    if (reserved && Object.hasOwn(reserved, name)) return reserved[name];
    for (const scope of this.data.scopes) {
      if (!scope || !Object.hasOwn(scope, name)) continue;
      const value = scope[name];
      if (value !== null && value !== undefined) return value;
    }
    return null;
  }

  call(name: string, args: readonly Expr[]): Value {
    const curly = CURLIES[name];
    if (curly !== undefined) return new Verbatim(curly);
    if (name === 'empty') {
      const value = evaluate(args[0]!, this);
      if (value === null || value === undefined) return true;
      if (Array.isArray(value)) return value.length === 0;
      if (typeof value === 'object') return Object.keys(value).length === 0;
      throw new TemplateRuntimeError(`empty() expects an array, got a ${luaType(value)} value`);
    }
    if (name === 'render_dynamic_content') return new Verbatim(this.dynamic(args[0]!));
    throw new TemplateRuntimeError(`unknown macro '${name}'`);
  }

  private dynamic(arg: Expr): string {
    const dynamic = this.data.dynamic;
    // The chunk's root is read from transmission-level data only: a recipient's own data is never
    // run as a template.
    const env: Environment = {
      variable: (name) => (DYNAMIC_ROOTS.has(name) ? (dynamic?.[name] ?? null) : this.variable(name)),
      call: (name, args) => this.call(name, args),
    };
    const source = evaluate(arg, env);
    if (source === null || source === undefined) return '';
    if (typeof source !== 'string')
      throw new TemplateRuntimeError(
        `render_dynamic_content() expects a string, got a ${luaType(source)} value`,
      );
    if (this.depth >= MAX_DYNAMIC_DEPTH) throw new TemplateRuntimeError('dynamic content nested too deeply');
    let nodes: readonly Node[];
    try {
      nodes = this.compileChunk(source, this.kind, this.part);
    } catch (error) {
      if (error instanceof TemplateError)
        throw new TemplateRuntimeError(`in dynamic content: ${error.detail}`);
      throw error;
    }
    const mark = this.out.length;
    this.depth++;
    try {
      this.nodes(nodes);
    } catch (error) {
      if (error instanceof TemplateError)
        throw new TemplateRuntimeError(`in dynamic content: line ${error.line}: ${error.detail}`);
      throw error;
    } finally {
      this.depth--;
    }
    const text = this.out.splice(mark).join('');
    this.length -= text.length;
    return text;
  }

  private nodes(nodes: readonly Node[]): void {
    for (const node of nodes) {
      if (++this.steps > MAX_STEPS)
        throw new TemplateError(
          'rendering',
          this.part,
          'line' in node ? node.line : 0,
          'template took too many steps',
        );
      switch (node.t) {
        case 'text':
          this.emit(node.text);
          break;
        case 'output': {
          const value = this.at(node.line, () => evaluate(node.expr, this));
          this.emit(this.format(value, node.raw, node.link));
          break;
        }
        case 'if': {
          const taken = node.branches.find((b) => this.at(b.line, () => truthy(evaluate(b.cond, this))));
          const body = taken ? taken.body : node.otherwise;
          if (body) this.nodes(body);
          break;
        }
        case 'each': {
          const list = this.at(node.line, () => evaluate(node.expr, this));
          if (list === null || list === undefined) break;
          if (typeof list !== 'object')
            throw this.fail(node.line, `each expects an array, got a ${luaType(list)} value`);
          // A JSON object is a Lua table without array part: nothing to iterate.
          if (!Array.isArray(list)) break;
          for (let i = 0; i < list.length; i++) {
            this.step(node.line);
            this.loops.push({ name: node.name, value: list[i] ?? null, index: i + 1 });
            try {
              this.nodes(node.body);
            } finally {
              this.loops.pop();
            }
          }
          break;
        }
      }
    }
  }

  private step(line: number): void {
    if (++this.steps > MAX_STEPS) throw this.fail(line, 'template took too many steps');
  }

  private format(value: Value, raw: boolean, link: boolean): string {
    if (value instanceof Verbatim) return value.text;
    const text = stringify(value);
    if (raw) return text;
    if (link) return encodeUrlComponent(text);
    return this.kind === 'html' || this.kind === 'amp_html' ? escapeHtml(text) : text;
  }

  private emit(text: string): void {
    this.length += text.length;
    if (this.length > this.maxLength)
      throw new TemplateError(
        'rendering',
        this.part,
        0,
        `rendered content exceeds ${this.maxLength} characters`,
      );
    this.out.push(text);
  }

  private at<T>(line: number, run: () => T): T {
    try {
      return run();
    } catch (error) {
      if (error instanceof TemplateRuntimeError) throw this.fail(line, error.message);
      throw error;
    }
  }

  private fail(line: number, message: string): TemplateError {
    return new TemplateError('rendering', this.part, line, message);
  }
}

export function stringify(value: Value): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return luaNumber(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return JSON.stringify(value);
}

/** C's %.14g, which is how Lua prints a number: 5 → "5", 39.99 → "39.99", 1e20 → "1e+20". */
export function luaNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const [mantissa, exponentText] = n.toExponential(13).split('e') as [string, string];
  const exponent = Number(exponentText);
  const trim = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exponent < -4 || exponent >= 14) {
    const sign = exponent < 0 ? '-' : '+';
    return `${trim(mantissa)}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return trim(n.toFixed(13 - exponent));
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#x27;',
  '/': '&#x2F;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'/]/g, (c) => HTML_ESCAPES[c]!);
}

/** Percent-encodes everything but RFC 3986's unreserved characters, as UTF-8. */
export function encodeUrlComponent(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
