/**
 * How deep free-form JSON may nest (metadata, substitution_data, list attributes), one rule for
 * every door: SparkPost documents no depth, only sizes; real data is a few levels deep, while
 * thousands of levels overflow the stack of whatever walks or serializes the value later (a
 * RangeError far from the request that caused it). Counted without recursion, so measuring a
 * hostile value cannot itself overflow.
 */

/** Deepest nesting of objects and arrays accepted inside one field (`{"metadata":{"a":1}}` is 1 in metadata). */
export const MAX_NESTING = 32;

/** The problem with a value nested deeper than MAX_NESTING, worded to follow the field's name. */
export const TOO_DEEP = `nests too deep (more than ${MAX_NESTING} levels)`;

/**
 * How deep objects and arrays nest in a parsed JSON value (a scalar is 0), given up as soon as it
 * passes `limit` (then limit + 1 is returned, so the cost is bounded by what is inspected).
 */
export function nestingOf(value: unknown, limit = MAX_NESTING): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth + 1 > limit) return limit + 1;
    deepest = Math.max(deepest, depth + 1);
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}

export function nestsTooDeep(value: unknown): boolean {
  return nestingOf(value, MAX_NESTING) > MAX_NESTING;
}
