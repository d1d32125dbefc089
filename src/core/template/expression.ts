/**
 * Expressions of SparkPost's template language: parsed from a tag's tokens, evaluated against
 * JSON substitution data. SparkPost's language is Lua underneath (its keyword list, 1-based array
 * indexes, the `#` length operator), so values behave as Lua's: only nil (JSON null or absent)
 * and false are false, `a or b` gives a unless it is false or nil (the documented default
 * value idiom), `==` never converts between types, `<` and friends compare two numbers or two
 * strings and fail on anything else ("attempt to compare nil with number", a render error).
 *
 * Precedence, lowest first: or; and; == != < > <= >=; not # - (unary); literals, names, paths
 * (`a.b`, `a['b']`, `a[part]`, `a[1]`), macro calls `name(args)` and parentheses.
 * One deliberate leniency: indexing nil or a scalar gives nil instead of Lua's error, since
 * SparkPost renders a missing variable empty and real data often lacks a nested object.
 */
import { TemplateRuntimeError, TemplateSyntaxError } from './errors.js';
import { near, type Token, tokenize } from './lexer.js';

export type Value = unknown;

export type Expr =
  | { k: 'literal'; value: Value }
  | { k: 'name'; name: string }
  | { k: 'index'; target: Expr; key: Expr }
  | { k: 'call'; name: string; args: Expr[] }
  | { k: 'not' | 'length' | 'negate'; operand: Expr }
  | { k: 'and' | 'or'; left: Expr; right: Expr }
  | { k: 'compare'; op: CompareOp; left: Expr; right: Expr };

type CompareOp = '==' | '!=' | '<' | '>' | '<=' | '>=';
const COMPARE = new Set<string>(['==', '!=', '<', '>', '<=', '>=']);

/** What evaluation needs from the renderer: variables and the macros. */
export interface Environment {
  variable(name: string): Value;
  call(name: string, args: readonly Expr[]): Value;
}

/** Parses a whole expression; every token must be used. */
export function parseExpression(source: string): Expr {
  return parseTokens(tokenize(source));
}

export function parseTokens(tokens: Token[]): Expr {
  const parser = new Parser(tokens);
  const expr = parser.expression();
  parser.done();
  return expr;
}

class Parser {
  private at = 0;

  constructor(private readonly tokens: Token[]) {}

  done(): void {
    const extra = this.tokens[this.at];
    if (extra) throw near(extra.text);
  }

  expression(): Expr {
    let left = this.and();
    while (this.accept('keyword', 'or')) left = { k: 'or', left, right: this.and() };
    return left;
  }

  private and(): Expr {
    let left = this.comparison();
    while (this.accept('keyword', 'and')) left = { k: 'and', left, right: this.comparison() };
    return left;
  }

  private comparison(): Expr {
    let left = this.unary();
    for (let token = this.peek(); token?.kind === 'op' && COMPARE.has(token.text); token = this.peek()) {
      this.at++;
      left = { k: 'compare', op: token.text as CompareOp, left, right: this.unary() };
    }
    return left;
  }

  private unary(): Expr {
    if (this.accept('keyword', 'not')) return { k: 'not', operand: this.unary() };
    if (this.accept('op', '#')) return { k: 'length', operand: this.unary() };
    if (this.accept('op', '-')) return { k: 'negate', operand: this.unary() };
    return this.primary();
  }

  private primary(): Expr {
    const token = this.tokens[this.at++];
    if (!token) throw new TemplateSyntaxError('syntax error: expression expected');
    switch (token.kind) {
      case 'number':
      case 'string':
        return { k: 'literal', value: token.value };
      case 'keyword':
        if (token.text === 'true') return { k: 'literal', value: true };
        if (token.text === 'false') return { k: 'literal', value: false };
        if (token.text === 'nil') return { k: 'literal', value: null };
        throw near(token.text);
      case 'op':
        if (token.text === '(') {
          const inner = this.expression();
          this.expect(')');
          return this.suffixes(inner);
        }
        throw near(token.text);
      case 'name': {
        if (this.accept('op', '(')) {
          const args: Expr[] = [];
          if (!this.accept('op', ')')) {
            do args.push(this.expression());
            while (this.accept('op', ','));
            this.expect(')');
          }
          return this.suffixes({ k: 'call', name: token.text, args });
        }
        return this.suffixes({ k: 'name', name: token.text });
      }
    }
  }

  private suffixes(target: Expr): Expr {
    for (;;) {
      if (this.accept('op', '.')) {
        const field = this.tokens[this.at++];
        if (field?.kind !== 'name') throw near(field?.text ?? '.');
        target = { k: 'index', target, key: { k: 'literal', value: field.text } };
      } else if (this.accept('op', '[')) {
        const key = this.expression();
        this.expect(']');
        target = { k: 'index', target, key };
      } else return target;
    }
  }

  private peek(): Token | undefined {
    return this.tokens[this.at];
  }

  private accept(kind: Token['kind'], text: string): boolean {
    const token = this.tokens[this.at];
    if (token?.kind === kind && token.text === text) {
      this.at++;
      return true;
    }
    return false;
  }

  private expect(text: string): void {
    if (!this.accept('op', text)) throw near(this.tokens[this.at]?.text ?? `<end>, '${text}' expected`);
  }
}

/** Lua's truth: everything but nil and false. */
export function truthy(value: Value): boolean {
  return value !== null && value !== undefined && value !== false;
}

/** Lua's type names, as its error messages use them. */
export function luaType(value: Value): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'object') return 'table';
  return typeof value === 'bigint' ? 'number' : typeof value;
}

export function evaluate(expr: Expr, env: Environment): Value {
  switch (expr.k) {
    case 'literal':
      return expr.value;
    case 'name':
      return env.variable(expr.name);
    case 'index':
      return index(evaluate(expr.target, env), evaluate(expr.key, env));
    case 'call':
      return env.call(expr.name, expr.args);
    case 'not':
      return !truthy(evaluate(expr.operand, env));
    case 'length':
      return lengthOf(evaluate(expr.operand, env));
    case 'negate': {
      const value = evaluate(expr.operand, env);
      if (typeof value !== 'number')
        throw new TemplateRuntimeError(`attempt to perform arithmetic on a ${luaType(value)} value`);
      return -value;
    }
    case 'and': {
      const left = evaluate(expr.left, env);
      return truthy(left) ? evaluate(expr.right, env) : left;
    }
    case 'or': {
      const left = evaluate(expr.left, env);
      return truthy(left) ? left : evaluate(expr.right, env);
    }
    case 'compare':
      return compare(expr.op, evaluate(expr.left, env), evaluate(expr.right, env));
  }
}

/** `target[key]`: 1-based for arrays, own keys only for objects, nil for anything else. */
export function index(target: Value, key: Value): Value {
  if (Array.isArray(target)) {
    if (typeof key !== 'number' || !Number.isInteger(key) || key < 1 || key > target.length) return null;
    return target[key - 1] ?? null;
  }
  if (target !== null && typeof target === 'object' && typeof key === 'string')
    return Object.hasOwn(target, key) ? ((target as Record<string, Value>)[key] ?? null) : null;
  return null;
}

function lengthOf(value: Value): number {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (Array.isArray(value)) return value.length;
  // A JSON object is a Lua table without array part: its border is 0.
  if (value !== null && typeof value === 'object') return 0;
  throw new TemplateRuntimeError(`attempt to get length of a ${luaType(value)} value`);
}

function compare(op: CompareOp, left: Value, right: Value): boolean {
  if (op === '==') return equal(left, right);
  if (op === '!=') return !equal(left, right);
  const bothNumbers = typeof left === 'number' && typeof right === 'number';
  const bothStrings = typeof left === 'string' && typeof right === 'string';
  if (!bothNumbers && !bothStrings) {
    const [a, b] = [luaType(left), luaType(right)];
    throw new TemplateRuntimeError(
      a === b ? `attempt to compare two ${a} values` : `attempt to compare ${a} with ${b}`,
    );
  }
  const [a, b] = [left as number | string, right as number | string];
  switch (op) {
    case '<':
      return a < b;
    case '>':
      return a > b;
    case '<=':
      return a <= b;
    case '>=':
      return a >= b;
  }
}

function equal(left: Value, right: Value): boolean {
  const leftNil = left === null || left === undefined;
  const rightNil = right === null || right === undefined;
  if (leftNil || rightNil) return leftNil && rightNil;
  return left === right;
}
