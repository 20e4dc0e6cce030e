interface QuerySchema {
  properties?: Record<string, { type?: unknown }>;
}

const NUMERIC = /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i;

/**
 * Query strings arrive as text. Ajv runs without type coercion (so a JSON body's wrong type is
 * a 400), so numbers and booleans in a query are converted here, by the route's own schema:
 * "10" -> 10 for an integer; "2.5" becomes 2.5 and fails the integer check; "abc" stays text
 * and fails too.
 */
export function convertQuery(schema: unknown, query: object): Record<string, unknown> {
  const properties = (schema as QuerySchema).properties;
  const out: Record<string, unknown> = { ...query };
  for (const [name, value] of Object.entries(query)) {
    const type = properties?.[name]?.type;
    if (typeof value !== 'string') continue;
    if ((type === 'integer' || type === 'number') && NUMERIC.test(value)) out[name] = Number(value);
    if (type === 'boolean' && (value === 'true' || value === 'false')) out[name] = value === 'true';
  }
  return out;
}
