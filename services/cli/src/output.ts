import { isAbsolute, relative } from 'node:path';
import type { TryonClient } from './api.js';

/** What every command gets: the client and how to speak. */
export interface Context {
  client: TryonClient;
  token: string | undefined;
  /** --json: stdout carries one JSON document and nothing else; stderr stays quiet. */
  json: boolean;
}

/** The command's result for scripts: one JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The command's result for people, on stdout (not in --json mode). */
export function say(ctx: Context, text: string): void {
  if (!ctx.json) process.stdout.write(`${text}\n`);
}

/** Notes about what is happening, on stderr, so stdout stays the result (not in --json mode). */
export function note(ctx: Context, text: string): void {
  if (!ctx.json) process.stderr.write(`${text}\n`);
}

/** A path as short as it is clear: relative below the working directory, else absolute. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}
