/**
 * Keeps String.prototype in V8's fast mode, where the optimising compiler inlines charCodeAt,
 * slice, indexOf and toLowerCase on strings.
 *
 * Why: when any object gets String.prototype as its prototype (ioredis's RESP decoder declares
 * `class VerbatimString extends String` at load time), V8 turns String.prototype into a
 * dictionary-mode prototype and stops inlining those builtins. Every string-heavy path of the
 * process slows down: measured on Node 20, charCodeAt 5x, slice 2x, toLowerCase 20x, and the
 * tracking rewrite (bench/tracking) 30% fewer messages per second, with nothing else changed.
 *
 * V8 makes a prototype fast again when a property load through it misses an inline cache, and
 * inline caches are only allocated after a function has run a few times (lazy feedback
 * allocation). So: load a String method off a String object through one site, enough times.
 * test/runtime/string-prototype.test.ts checks the outcome with V8's own %HasFastProperties, so
 * a Node upgrade that changes this is noticed.
 */

/** Call after loading a module that subclasses String. Costs a few microseconds. */
export function restoreFastStringPrototype(): void {
  const wrapper = Object(''); // a String object, whose prototype chain starts at String.prototype
  for (let i = 0; i < 64; i++) loadThrough(wrapper);
}

function loadThrough(value: object): unknown {
  return (value as { charCodeAt?: unknown }).charCodeAt;
}
