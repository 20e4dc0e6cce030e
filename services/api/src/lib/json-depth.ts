/**
 * Whether a parsed JSON value nests arrays and objects deeper than `max` levels (the top-level
 * object is level 1). Walks with an explicit stack, so a value nested a million levels deep is
 * measured without recursion.
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: { value: object; depth: number }[] = [];
  if (value !== null && typeof value === 'object') stack.push({ value, depth: 1 });
  for (let next = stack.pop(); next; next = stack.pop()) {
    if (next.depth > max) return true;
    const children: unknown[] = Array.isArray(next.value) ? next.value : Object.values(next.value);
    for (const child of children) {
      if (child !== null && typeof child === 'object') {
        stack.push({ value: child, depth: next.depth + 1 });
      }
    }
  }
  return false;
}
