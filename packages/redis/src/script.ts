import { createHash } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';

export type ScriptArg = string | number;

export interface ScriptSpec {
  /** The command name the script gets on a connection (camelCase, unique in the service). */
  name: string;
  /** How many of the arguments are keys; 'variable' when the caller passes the count first. */
  numberOfKeys: number | 'variable';
  lua: string;
}

/** A Lua script registered with ioredis `defineCommand`: sent once, then run by its SHA. */
export interface RedisScript<Reply> {
  readonly name: string;
  /** The SHA1 Redis knows the script by (EVALSHA). */
  readonly sha: string;
  /** Whether this connection has the command defined. */
  isRegistered(redis: Redis): boolean;
  /** Runs the script. Every key it touches is in `keys` (see keys.ts on hash tags). */
  run(redis: Redis, keys: string[], args: ScriptArg[]): Promise<Reply>;
  /** Defines the command on `redis`; call it before `redis.multi()` or `redis.pipeline()`. */
  register(redis: Redis): void;
  /** Queues the script on a pipeline or MULTI whose client was registered before it was made. */
  queue(pipeline: ChainableCommander, keys: string[], args: ScriptArg[]): void;
}

/** Which scripts each connection already knows; `duplicate()` makes a connection without them. */
const registered = new WeakMap<Redis, Set<string>>();

/** Defines the script's command on this connection unless done before (idempotent). */
export function ensureScript(redis: Redis, spec: ScriptSpec): void {
  let names = registered.get(redis);
  if (!names) {
    names = new Set();
    registered.set(redis, names);
  }
  if (names.has(spec.name)) return;
  redis.defineCommand(
    spec.name,
    spec.numberOfKeys === 'variable'
      ? { lua: spec.lua }
      : { lua: spec.lua, numberOfKeys: spec.numberOfKeys },
  );
  names.add(spec.name);
}

type ScriptCommand = (...args: ScriptArg[]) => unknown;

function commandArgs(spec: ScriptSpec, keys: string[], args: ScriptArg[]): ScriptArg[] {
  if (spec.numberOfKeys === 'variable') return [keys.length, ...keys, ...args];
  if (keys.length !== spec.numberOfKeys) {
    throw new Error(`script ${spec.name} takes ${spec.numberOfKeys} keys, got ${keys.length}`);
  }
  return [...keys, ...args];
}

export function defineScript<Reply>(spec: ScriptSpec): RedisScript<Reply> {
  return {
    name: spec.name,
    sha: createHash('sha1').update(spec.lua).digest('hex'),
    isRegistered: (redis) => registered.get(redis)?.has(spec.name) === true,
    async run(redis, keys, args) {
      ensureScript(redis, spec);
      const command = (redis as unknown as Record<string, ScriptCommand>)[spec.name]!;
      return (await command.apply(redis, commandArgs(spec, keys, args))) as Reply;
    },
    register(redis) {
      ensureScript(redis, spec);
    },
    queue(pipeline, keys, args) {
      // ioredis copies a client's defined commands onto each pipeline as it makes it.
      const command = (pipeline as unknown as Record<string, ScriptCommand | undefined>)[spec.name];
      if (!command) throw new Error(`script ${spec.name} was not registered before the pipeline`);
      command.apply(pipeline, commandArgs(spec, keys, args));
    },
  };
}
