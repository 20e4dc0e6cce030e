import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import { defineScript, RedisKeys } from '../src/index.js';

const counter = defineScript<number>({
  name: uniqueId('testIncrBy').replace(/[^a-zA-Z0-9]/g, ''),
  numberOfKeys: 1,
  lua: `return redis.call('INCRBY', KEYS[1], ARGV[1])`,
});
const sumOfKeys = defineScript<number>({
  name: uniqueId('testSum').replace(/[^a-zA-Z0-9]/g, ''),
  numberOfKeys: 'variable',
  lua: `local n = 0 for _, k in ipairs(KEYS) do n = n + tonumber(redis.call('GET', k) or '0') end return n`,
});

let redis: Redis;
let prefix: string;
beforeAll(() => {
  redis = new Redis(testRedisUrl());
  prefix = uniqueId('redis-script');
});
afterAll(() => redis.disconnect());

/**
 * The commands one connection writes to Redis while `action` runs (read at ioredis's
 * sendCommand; Redis still runs them). MONITOR would show the same, but on a Redis shared with
 * busy BullMQ tests ioredis's monitor mode is unreliable.
 */
async function commandsOf(client: Redis, action: () => Promise<unknown>): Promise<string[]> {
  const sent: string[] = [];
  const original = client.sendCommand.bind(client);
  client.sendCommand = (command, stream) => {
    sent.push(command.name.toLowerCase());
    return original(command, stream);
  };
  try {
    await action();
  } finally {
    client.sendCommand = original;
  }
  return sent;
}

describe('defineScript', () => {
  it('registers the command once per connection and runs it by SHA', async () => {
    const client = new Redis(testRedisUrl());
    try {
      const key = `${prefix}:counter`;
      expect(counter.isRegistered(client)).toBe(false);
      expect(await counter.run(client, [key], [2])).toBe(2);
      expect(counter.isRegistered(client)).toBe(true);
      expect(await client.script('EXISTS', counter.sha)).toEqual([1]);
      const sent = await commandsOf(client, async () => {
        expect(await counter.run(client, [key], [3])).toBe(5);
        expect(await counter.run(client, [key], [4])).toBe(9);
      });
      expect(sent).toEqual(['evalsha', 'evalsha']);
    } finally {
      client.disconnect();
    }
  });

  it('takes a variable number of keys, counted by the caller', async () => {
    await redis.set(`${prefix}:a`, 4);
    await redis.set(`${prefix}:b`, 5);
    expect(await sumOfKeys.run(redis, [`${prefix}:a`, `${prefix}:b`], [])).toBe(9);
    expect(await sumOfKeys.run(redis, [`${prefix}:a`], [])).toBe(4);
  });

  it('refuses a call with the wrong number of keys', async () => {
    await expect(counter.run(redis, [], [1])).rejects.toThrow(/takes 1 keys, got 0/);
  });

  it('queues on a MULTI of a registered connection, and registers a duplicate anew', async () => {
    const key = `${prefix}:multi`;
    counter.register(redis);
    const multi = redis.multi();
    counter.queue(multi, [key], [7]);
    expect(await multi.get(key).exec()).toEqual([
      [null, 7],
      [null, '7'],
    ]);
    const copy = redis.duplicate();
    try {
      expect(counter.isRegistered(copy)).toBe(false);
      expect(() => counter.queue(copy.multi(), [key], [1])).toThrow(/not registered/);
      expect(await counter.run(copy, [key], [1])).toBe(8);
    } finally {
      copy.disconnect();
    }
  });
});

describe('RedisKeys', () => {
  it('starts every key with the prefix, so a hash-tagged prefix puts them in one slot', () => {
    const keys = new RedisKeys('{tryon}');
    const made = [
      keys.batch('b'),
      ...keys.batchStates('b'),
      keys.item('i'),
      keys.itemFamily(),
      keys.idempotency('t', 'k'),
      keys.admissionTenant('t'),
      keys.admissionInFlight('key-1'),
      keys.budgetSlots('key-1'),
      keys.durations('hd'),
      keys.apiLimitPrefix(),
      keys.sweepLease(),
      keys.inputCheckLock('model', 'abc'),
    ];
    for (const key of made) expect(key.startsWith('{tryon}:')).toBe(true);
  });

  it('names the keys as they were named before it existed (data stays readable)', () => {
    const keys = new RedisKeys('P');
    expect(keys.item('itm_1')).toBe('P:item:itm_1');
    expect(keys.batchState('bat_1', 'failed')).toBe('P:batch:bat_1:state:failed');
    expect(keys.admissionBatch('bat_1')).toBe('P:adm:batch:bat_1');
    expect(keys.budgetPause('key-1')).toBe('P:budget:key-1:paused');
    expect(keys.batchEventsChannel('bat_1')).toBe('P:batch-events:bat_1');
  });
});
