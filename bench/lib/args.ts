/** Flag parsing for `pnpm bench <scenario> [flags]`, on node:util parseArgs. */
import { parseArgs } from 'node:util';

export interface FlagSpec {
  type: 'number' | 'boolean' | 'string' | 'list';
  help: string;
  /** Numbers: smallest and largest accepted value; integer when set. */
  min?: number;
  max?: number;
  integer?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;

/** What a spec parses to: numbers and strings may be absent (the scenario picks defaults). */
export type Flags<S extends FlagSpecs> = {
  [K in keyof S]: S[K]['type'] extends 'boolean'
    ? boolean
    : S[K]['type'] extends 'list'
      ? string[]
      : S[K]['type'] extends 'number'
        ? number | undefined
        : string | undefined;
};

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Flags every scenario takes. */
export const COMMON_FLAGS = {
  workers: { type: 'number', help: 'worker processes (default 4)', min: 1, max: 32, integer: true },
  keys: { type: 'number', help: 'FitRoom API keys (default 1)', min: 1, max: 20, integer: true },
  'time-scale': {
    type: 'number',
    help: 'simulator and service time scale, N times faster than FitRoom (default 20)',
    min: 0.1,
    max: 1000,
  },
  jitter: {
    type: 'number',
    help: 'relative task duration jitter (default 0.1)',
    min: 0,
    max: 0.99,
  },
  seed: { type: 'number', help: "seed of the simulator's random draws", integer: true },
  runs: {
    type: 'number',
    help: 'repeat the run N times, each on a fresh stack (default 1)',
    min: 1,
    max: 20,
    integer: true,
  },
  timeout: {
    type: 'number',
    help: 'give up waiting after this many real seconds (default: from the expected duration)',
    min: 1,
    max: 86_400,
  },
  built: {
    type: 'boolean',
    help: 'run the services as production does: node out/<service>/dist/main.js (pnpm build && scripts/prod-tree.sh first)',
  },
  json: { type: 'boolean', help: 'print only the JSON line(s) (and errors)' },
  keep: { type: 'boolean', help: 'keep the data dir, service logs and Redis keys afterwards' },
  env: {
    type: 'list',
    help: 'KEY=VALUE added to the api and worker environment (repeatable), e.g. WORKER_CONCURRENCY=100',
  },
  'sim-env': {
    type: 'list',
    help: "KEY=VALUE added to the simulator's environment (repeatable), e.g. SIM_DURATION_FAMILY=lognormal",
  },
  help: { type: 'boolean', help: 'this help' },
} as const satisfies FlagSpecs;

export type CommonFlags = Flags<typeof COMMON_FLAGS>;

function parseNumber(name: string, text: string, spec: FlagSpec): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) {
    throw new UsageError(`--${name} must be a number (got "${text}")`);
  }
  if (spec.integer && !Number.isInteger(value)) {
    throw new UsageError(`--${name} must be an integer (got "${text}")`);
  }
  if (spec.min !== undefined && value < spec.min) {
    throw new UsageError(`--${name} must be >= ${spec.min} (got ${text})`);
  }
  if (spec.max !== undefined && value > spec.max) {
    throw new UsageError(`--${name} must be <= ${spec.max} (got ${text})`);
  }
  return value;
}

/** Parses `args` (after the scenario name) against `specs`; throws UsageError on any problem. */
export function parseFlags<S extends FlagSpecs>(specs: S, args: readonly string[]): Flags<S> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = {
      type: spec.type === 'boolean' ? 'boolean' : 'string',
      ...(spec.type === 'list' && { multiple: true }),
    };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: false, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = parsed.values[name];
    if (spec.type === 'boolean') out[name] = raw === true;
    else if (spec.type === 'list') out[name] = Array.isArray(raw) ? raw.map(String) : [];
    else if (typeof raw !== 'string') out[name] = undefined;
    else out[name] = spec.type === 'number' ? parseNumber(name, raw, spec) : raw;
  }
  return out as Flags<S>;
}

/** KEY=VALUE pairs of --env; names as in the service's configuration. */
export function parseEnvPairs(pairs: readonly string[], flag = 'env'): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/s.exec(pair);
    if (!match) throw new UsageError(`--${flag} takes KEY=VALUE (got "${pair}")`);
    env[match[1] as string] = match[2] as string;
  }
  return env;
}

export function usage(scenario: string, summary: string, specs: FlagSpecs): string {
  const lines = [`pnpm bench ${scenario} [flags]`, '', summary, '', 'flags:'];
  for (const [name, spec] of Object.entries(specs)) {
    const value = spec.type === 'boolean' ? '' : spec.type === 'list' ? ' K=V' : ` <${spec.type}>`;
    lines.push(`  --${`${name}${value}`.padEnd(22)} ${spec.help}`);
  }
  return lines.join('\n');
}
