/**
 * SparkPost's template language, compiled once per part and rendered per recipient. A part is
 * compiled when a template or transmission is submitted (a syntax error is the API's 422 with
 * part and line); rendering can still fail for one recipient's data (a TemplateError of phase
 * 'rendering', that recipient's generation_failure). Compilation also checks the macros: known
 * names, their number of arguments, and that render_dynamic_content reads a dynamic_html,
 * dynamic_plain or dynamic_amp_html value.
 */
import { TemplateError } from './errors.js';
import type { Expr } from './expression.js';
import { LineError, type Node, type PartKind, parseTemplate } from './parse.js';
import { DYNAMIC_ROOTS, PartRenderer, type RenderData } from './render.js';

export { TemplateError } from './errors.js';
export type { PartKind } from './parse.js';
export type { RenderData, Scope } from './render.js';

/** Rendered output larger than this fails (about the largest message Sluice accepts). */
const DEFAULT_MAX_OUTPUT = 26_214_400;

const MACROS: Record<string, number> = {
  render_dynamic_content: 1,
  empty: 1,
  opening_double_curly: 0,
  closing_double_curly: 0,
  opening_triple_curly: 0,
  closing_triple_curly: 0,
};

export class CompiledPart {
  constructor(
    readonly part: string,
    readonly kind: PartKind,
    readonly nodes: readonly Node[],
    /** True when the source has no tag at all: rendering returns it unchanged. */
    readonly constant: string | null,
  ) {}

  render(data: RenderData, maxOutput = DEFAULT_MAX_OUTPUT): string {
    if (this.constant !== null) return this.constant;
    return new PartRenderer(this.part, this.kind, data, compileChunk, maxOutput).render(this.nodes);
  }
}

/** Compiles one part; throws TemplateError (phase 'compiling') naming the part and line. */
export function compilePart(source: string, kind: PartKind, part: string): CompiledPart {
  if (!source.includes('{{')) return new CompiledPart(part, kind, [], source);
  return new CompiledPart(part, kind, compileNodes(source, kind, part), null);
}

/** Compiles and renders in one go (previews, one-off renders). */
export function renderPart(source: string, kind: PartKind, part: string, data: RenderData): string {
  return compilePart(source, kind, part).render(data);
}

function compileNodes(source: string, kind: PartKind, part: string): Node[] {
  try {
    const nodes = parseTemplate(source, kind);
    checkMacros(nodes);
    return nodes;
  } catch (error) {
    if (error instanceof LineError) throw new TemplateError('compiling', part, error.line, error.message);
    throw error;
  }
}

/** Dynamic content chunks are compiled at render time; the same chunk often serves every recipient. */
const chunks = new Map<string, Node[]>();
const CHUNK_CACHE = 256;

function compileChunk(source: string, kind: PartKind, part: string): readonly Node[] {
  const key = `${kind}\u0000${source}`;
  const known = chunks.get(key);
  if (known) return known;
  const nodes = compileNodes(source, kind, part);
  if (chunks.size >= CHUNK_CACHE) chunks.delete(chunks.keys().next().value!);
  chunks.set(key, nodes);
  return nodes;
}

function checkMacros(nodes: readonly Node[]): void {
  for (const node of nodes) {
    switch (node.t) {
      case 'output':
        checkExpr(node.expr, node.line);
        break;
      case 'if':
        for (const branch of node.branches) {
          checkExpr(branch.cond, branch.line);
          checkMacros(branch.body);
        }
        if (node.otherwise) checkMacros(node.otherwise);
        break;
      case 'each':
        checkExpr(node.expr, node.line);
        checkMacros(node.body);
        break;
    }
  }
}

function checkExpr(expr: Expr, line: number): void {
  switch (expr.k) {
    case 'call': {
      const arity = MACROS[expr.name];
      if (arity === undefined) throw new LineError(line, `unknown macro '${expr.name}'`);
      if (expr.args.length !== arity)
        throw new LineError(line, `${expr.name}() takes ${arity} argument${arity === 1 ? '' : 's'}`);
      if (expr.name === 'render_dynamic_content' && !DYNAMIC_ROOTS.has(rootOf(expr.args[0]!) ?? ''))
        throw new LineError(
          line,
          'render_dynamic_content() renders a dynamic_html, dynamic_plain or dynamic_amp_html value',
        );
      for (const arg of expr.args) checkExpr(arg, line);
      break;
    }
    case 'index':
      checkExpr(expr.target, line);
      checkExpr(expr.key, line);
      break;
    case 'not':
    case 'length':
    case 'negate':
      checkExpr(expr.operand, line);
      break;
    case 'and':
    case 'or':
    case 'compare':
      checkExpr(expr.left, line);
      checkExpr(expr.right, line);
      break;
    default:
      break;
  }
}

function rootOf(expr: Expr): string | null {
  if (expr.k === 'name') return expr.name;
  if (expr.k === 'index') return rootOf(expr.target);
  return null;
}
