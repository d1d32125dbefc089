/**
 * The template language's two kinds of failure, worded as SparkPost words them: a syntax error
 * found when a part is compiled ("Error while compiling part html: line 4: syntax error near
 * 'age'", the API's 422 with code 3000, `part` and `line`), and an error found while rendering it
 * for one recipient ("Error while rendering part html: line 2: attempt to compare nil with
 * number", that recipient's generation_failure).
 */

/** Thrown by the lexer and parser; the compiler adds the part and line. */
export class TemplateSyntaxError extends Error {}

/** Thrown while evaluating; the renderer adds the part and line. */
export class TemplateRuntimeError extends Error {}

export type TemplatePhase = 'compiling' | 'rendering';

export class TemplateError extends Error {
  constructor(
    readonly phase: TemplatePhase,
    /** SparkPost's part names: html, text, amp_html, Header:Subject, Header:<name>. */
    readonly part: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`Error while ${phase} part ${part}: line ${line}: ${detail}`);
  }
}
