/**
 * Reads FitRoom's API document (docs/fitroom-api.txt): its curl examples and the JSON
 * response examples that follow each of them.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

export const DOC_PATH = new URL('../../../docs/fitroom-api.txt', import.meta.url);
export const DOC_HOST = 'https://platform.fitroom.app';

export function readDoc(): string {
  return readFileSync(DOC_PATH, 'utf8');
}

export interface CurlExample {
  /** The command as printed, continuation lines joined. */
  text: string;
  /** Line number (1-based) of its first line. */
  line: number;
  argv: string[];
  method: string;
  /** Path of the URL, e.g. /api/tryon/v2/tasks/123456. */
  path: string;
  /** JSON response examples between this example and the next one. */
  responses: Array<{ heading: string; json: Record<string, unknown> }>;
}

/** Splits a command line the way sh would for what the document uses: words, "..." and '...'. */
export function shellWords(command: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < command.length; i++) {
    const c = command[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && '"\\$`'.includes(command[i + 1] ?? '')) {
        word += command[++i];
      } else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\') {
      const next = command[++i];
      if (next !== undefined && next !== '\n') {
        word += next;
        inWord = true;
      }
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated quote in: ${command}`);
  if (inWord) words.push(word);
  return words;
}

/** The JSON blocks of a text: `{` at the start of a line up to its matching `}`, comments removed. */
function jsonBlocks(lines: string[]): Array<{ heading: string; json: Record<string, unknown> }> {
  const blocks: Array<{ heading: string; json: Record<string, unknown> }> = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== '{') continue;
    let depth = 0;
    let end = i;
    for (; end < lines.length; end++) {
      const stripped = (lines[end] ?? '').replace(/\s+\/\/.*$/, '');
      depth += (stripped.match(/[{[]/g) ?? []).length - (stripped.match(/[}\]]/g) ?? []).length;
      if (depth === 0) break;
    }
    const source = lines
      .slice(i, end + 1)
      .map((l) => l.replace(/\s+\/\/.*$/, ''))
      .join('\n');
    blocks.push({
      heading: lines[i - 1]?.trim() ?? '',
      json: JSON.parse(source) as Record<string, unknown>,
    });
    i = end;
  }
  return blocks;
}

/** Every `curl ...` example of the document, backslash-continued lines joined. */
export function curlExamples(doc: string): CurlExample[] {
  const lines = doc.split('\n');
  const starts: number[] = [];
  lines.forEach((line, i) => {
    if (/^curl\s/.test(line)) starts.push(i);
  });
  return starts.map((start, n) => {
    let end = start;
    while ((lines[end] ?? '').trimEnd().endsWith('\\') && end + 1 < lines.length) end++;
    const text = lines.slice(start, end + 1).join('\n');
    const argv = shellWords(text);
    const url = argv.find((word) => word.startsWith(DOC_HOST));
    if (!url) throw new Error(`no FitRoom URL in example at line ${start + 1}`);
    const methodAt = argv.indexOf('-X');
    const method = methodAt >= 0 ? (argv[methodAt + 1] ?? 'GET') : 'GET';
    const next = starts[n + 1] ?? lines.length;
    return {
      text,
      line: start + 1,
      argv,
      method,
      path: new URL(url).pathname,
      responses: jsonBlocks(lines.slice(end + 1, next)),
    };
  });
}

/** "GET /api/tryon/v2/tasks/:id"-style name of an example's endpoint. */
export function endpointOf(example: Pick<CurlExample, 'method' | 'path'>): string {
  return `${example.method} ${example.path.replace(/\/tasks\/[^/]+$/, '/tasks/:id')}`;
}

/**
 * Whether `actual` has the documented example's shape: the same field names, values of the
 * same JSON type, `status` equal, strings like "410xxx" as digit patterns, and array items
 * drawn from the documented items.
 */
export function hasDocumentedShape(actual: unknown, documented: Record<string, unknown>): boolean {
  if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return false;
  const a = actual as Record<string, unknown>;
  const keys = (o: object) => Object.keys(o).sort().join(',');
  if (keys(a) !== keys(documented)) return false;
  return Object.entries(documented).every(([name, doc]) => {
    const value = a[name];
    if (Array.isArray(doc)) {
      return Array.isArray(value) && value.every((item) => doc.includes(item));
    }
    if (typeof value !== typeof doc) return false;
    if (name === 'status') return value === doc;
    if (typeof doc === 'string' && /x{3}$/.test(doc)) {
      return new RegExp(`^${doc.replace(/x/g, '\\d')}$`).test(value as string);
    }
    return true;
  });
}

/** Asserts `actual` matches one of the documented responses, with a readable failure. */
export function expectDocumented(
  actual: unknown,
  documented: Array<{ heading: string; json: Record<string, unknown> }>,
): string {
  const match = documented.find((d) => hasDocumentedShape(actual, d.json));
  expect(
    match,
    `${JSON.stringify(actual)} matches none of: ${documented.map((d) => d.heading).join(' | ')}`,
  ).toBeDefined();
  return match?.heading ?? '';
}

/** The documented responses of an endpoint, gathered from all its examples. */
export function documentedResponses(
  doc: string,
  endpoint: string,
): Array<{ heading: string; json: Record<string, unknown> }> {
  return curlExamples(doc)
    .filter((example) => endpointOf(example) === endpoint)
    .flatMap((example) => example.responses);
}

/** What the document's e-mail obfuscator left where a `-F "field=@file"` argument was. */
export const OBFUSCATED = '[email protected]';

/**
 * Undoes the e-mail obfuscation of the scraped document. Every `-F "name=@file"` argument
 * whose text looked like an address (`model_image=@model.jpg`) was replaced by OBFUSCATED.
 * The lost arguments are known from each endpoint's Request table:
 *   - input checks take one file, `input_image`: model.jpg for the model check, cloth.jpg for
 *     the clothes check;
 *   - create takes `cloth_image` then `model_image` (the order of the combo example, the one
 *     where only model_image was hidden), with files cloth.jpg and model.jpg; a field the
 *     example already spells out (combo's `cloth_image=@upper_cloth.jpg`) is not repeated.
 * Anything else is left as it is.
 */
export function restoreObfuscatedFileFields(example: CurlExample): string[] {
  const byPath: Record<string, string[]> = {
    '/api/tryon/input_check/v1/model': ['input_image=@model.jpg'],
    '/api/tryon/input_check/v1/clothes': ['input_image=@cloth.jpg'],
    '/api/tryon/v2/tasks': ['cloth_image=@cloth.jpg', 'model_image=@model.jpg'],
  };
  const present = new Set(
    example.argv.filter((word) => word.includes('=@')).map((word) => word.split('=')[0]),
  );
  const lost = (byPath[example.path] ?? []).filter((arg) => !present.has(arg.split('=')[0]));
  return example.argv.map((word) => {
    if (word !== OBFUSCATED) return word;
    const restored = lost.shift();
    if (!restored)
      throw new Error(`cannot restore "${word}" in the example at line ${example.line}`);
    return restored;
  });
}
