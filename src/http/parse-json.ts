/**
 * Request bodies' JSON, parsed for the HTTP door: V8's JSON.parse (which does not recurse, so a
 * body nested thousands of levels deep parses and reaches the schema that names the field), then
 * every "__proto__" member removed by a walk that does not recurse either: such a member must
 * never reach Object.assign or a spread target. A reviver would do the removal but makes
 * JSON.parse recurse, and 5,000 levels then overflow the stack (a 400 that names nothing).
 */
export function parseJsonText(text: string): unknown {
  const value: unknown = JSON.parse(text);
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const node = pending.pop();
    if (node === null || typeof node !== 'object') continue;
    if (Object.hasOwn(node, '__proto__')) Reflect.deleteProperty(node, '__proto__');
    for (const child of Object.values(node))
      if (child !== null && typeof child === 'object') pending.push(child);
  }
  return value;
}
