import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStep } from '../../src/steps/create.js';
import { notifyStep } from '../../src/steps/notify.js';
import { pollStep } from '../../src/steps/poll.js';
import { prepareStep } from '../../src/steps/prepare.js';
import { storeStep } from '../../src/steps/store.js';
import { startStepHarness, type StepHarness } from './harness.js';

let h: StepHarness;
beforeAll(async () => {
  h = await startStepHarness('steps');
});
afterAll(() => h?.close());

describe('prepare step', () => {
  it('stores the prepared inputs and moves on to create', async () => {
    const { item, data } = await h.newItem();
    const outcome = await prepareStep(h.env, h.runFor(item, data));
    if (!('next' in outcome)) throw new Error(`expected next, got ${JSON.stringify(outcome)}`);
    expect(outcome.next.step).toBe('create');
    expect(outcome.next.pairKey).toEqual(expect.any(String));
    expect(await h.storage.exists(outcome.next.inputs!.model)).toBe(true);
    expect(await h.storage.exists(outcome.next.inputs!.cloth)).toBe(true);
  });

  it('completes the item from a stored render of the same pair', async () => {
    const { item, data } = await h.newItem();
    const first = await prepareStep(h.env, h.runFor(item, data));
    if (!('next' in first)) throw new Error('expected next');
    const render = await h.storage.put('results/earlier/render.png', Buffer.from('png bytes'), {
      contentType: 'image/png',
    });
    await h.env.deps.resultCache.set(first.next.pairKey!, {
      key: render.key,
      bytes: render.bytes,
      sha256: render.sha256,
      content_type: 'image/png',
    });
    const outcome = await prepareStep(h.env, h.runFor(item, data));
    expect(outcome).toEqual({ done: 'completed' });
    const done = (await h.records.getItem(item.id))!;
    expect(done.status).toBe('completed');
    expect(done.result).toMatchObject({
      key: `results/${item.batch_id}/${item.id}.png`,
      sha256: render.sha256,
      content_type: 'image/png',
    });
  });
});

describe('create step', () => {
  it('without inputs goes back to prepare', async () => {
    const { item, data } = await h.newItem();
    expect(await createStep(h.env, h.runFor(item, data))).toEqual({
      next: { ...data, step: 'prepare' },
    });
  });

  it('waits in the admission line until a key is assigned', async () => {
    const { item, data } = await h.newItem();
    const inputs = { model: 'prepared/a.jpg', cloth: 'prepared/b.jpg' };
    const outcome = await createStep(h.env, h.runFor(item, { ...data, step: 'create', inputs }));
    expect(outcome).toEqual({
      park: { id: item.id, batchId: item.batch_id, tenantId: item.tenant_id, priority: 0 },
    });
  });

  it('lines up again when admitted to a key this process does not have', async () => {
    const { item, data } = await h.newItem();
    const inputs = { model: 'prepared/a.jpg', cloth: 'prepared/b.jpg' };
    const run = h.runFor(item, { ...data, step: 'create', inputs, budgetKey: 'unknown-key' });
    expect(await createStep(h.env, run)).toEqual({
      next: { ...data, step: 'create', inputs, budgetKey: undefined },
    });
  });
});

describe('poll step', () => {
  it('treats a task FitRoom does not know as FAILED and re-creates it', async () => {
    const { item, data } = await h.newItem();
    const budgetKey = h.env.deps.pool.keys[0]!.budgetKey;
    const run = h.runFor(item, { ...data, step: 'poll', budgetKey, taskId: 'no-such-task' });
    expect(await pollStep(h.env, run)).toEqual({
      next: {
        ...run.data,
        step: 'create',
        taskId: undefined,
        budgetKey: undefined,
        failedTasks: 1,
        polls: 1,
      },
    });
    // Past the allowed re-creates the item fails with FitRoom's reason.
    const last = h.runFor(item, { ...run.data, failedTasks: 1 });
    await expect(pollStep(h.env, last)).rejects.toMatchObject({
      reason: { code: 'fitroom_task_failed' },
    });
  });

  it('goes back to create when the task key is gone from the config', async () => {
    const { item, data } = await h.newItem();
    const run = h.runFor(item, { ...data, step: 'poll', budgetKey: 'gone', taskId: 't1' });
    expect(await pollStep(h.env, run)).toEqual({
      next: { ...run.data, step: 'create', taskId: undefined, budgetKey: undefined },
    });
  });
});

describe('store step', () => {
  it('polls again for a fresh link when the download link is refused', async () => {
    const { item, data } = await h.newItem();
    const budgetKey = h.env.deps.pool.keys[0]!.budgetKey;
    const run = h.runFor(item, {
      ...data,
      step: 'store',
      budgetKey,
      taskId: 't1',
      // A link the simulator did not sign: refused with 403, as an expired one is.
      downloadUrl: `${h.sim.url}/_sim/results/123.jpg?expires=${Date.now() - 1}&signature=00`,
    });
    expect(await storeStep(h.env, run)).toEqual({
      next: { ...run.data, step: 'poll', downloadUrl: undefined },
    });
    expect((await h.records.getItem(item.id))!.result).toBeNull();
  });

  it('without a download link goes back to poll', async () => {
    const { item, data } = await h.newItem();
    const run = h.runFor(item, { ...data, step: 'store' });
    expect(await storeStep(h.env, run)).toEqual({ next: { ...data, step: 'poll' } });
  });
});

describe('notify step', () => {
  it('completes the item and finishes its batch', async () => {
    const { item, data } = await h.newItem();
    expect(await notifyStep(h.env, h.runFor(item, { ...data, step: 'notify' }))).toEqual({
      done: 'completed',
    });
    expect((await h.records.getItem(item.id))!.status).toBe('completed');
    expect((await h.records.getBatch(item.batch_id))!.status).toBe('completed');
  });
});
