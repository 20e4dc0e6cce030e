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
    // One credit saved, counted once even if the step runs again.
    await prepareStep(h.env, h.runFor(done, data));
    expect((await h.records.getBatch(item.batch_id))!.credits).toEqual({
      spent: 0,
      possibly_spent: 0,
      saved_by_reuse: 1,
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

describe('create step credits', () => {
  /** An item prepared and admitted to the harness's key, ready to create its task. */
  async function readyToCreate() {
    const { item, data } = await h.newItem({ freshRenders: true });
    const prepared = await prepareStep(h.env, h.runFor(item, data));
    if (!('next' in prepared)) throw new Error('expected next');
    const budgetKey = h.env.deps.pool.keys[0]!.budgetKey;
    return { item, data: { ...prepared.next, budgetKey }, budgetKey };
  }
  const creditsOf = async (itemId: string) => (await h.records.getItem(itemId))!.credits;
  const tasksCreated = () => Object.values(h.sim.stats().keys)[0]!.tasks_created;

  it('a confirmed create is one credit spent on the item, its batch and its key', async () => {
    const { item, data, budgetKey } = await readyToCreate();
    const [before] = await h.env.deps.credits.byKey([budgetKey]);
    const outcome = await createStep(h.env, h.runFor(item, data));
    expect(outcome).toEqual({ delayMs: expect.any(Number) as number });
    expect(await creditsOf(item.id)).toEqual({ spent: 1, possibly_spent: 0 });
    expect((await h.records.getBatch(item.batch_id))!.credits).toMatchObject({ spent: 1 });
    const [after] = await h.env.deps.credits.byKey([budgetKey]);
    expect(after!.spent - before!.spent).toBe(1);
  });

  it('an ambiguous create is possibly spent, retried once, then fails the item', async () => {
    const { item, data } = await readyToCreate();
    const charged = tasksCreated();
    h.sim.configure({ faults: { resetAfterCreate: { every: 1 } } });
    try {
      const first = h.runFor(item, data);
      await expect(createStep(h.env, first)).rejects.toMatchObject({ code: 'network' });
      // Saved for the retry BullMQ makes, with the key kept.
      expect(first.saved.at(-1)).toMatchObject({ ambiguousCreates: 1, budgetKey: data.budgetKey });
      expect(await creditsOf(item.id)).toEqual({ spent: 0, possibly_spent: 1 });
      const again = await h.records.getItem(item.id);
      await expect(createStep(h.env, h.runFor(again!, first.saved.at(-1)!))).rejects.toMatchObject({
        reason: {
          code: 'fitroom_create_ambiguous',
          message: expect.stringMatching(
            /one retry FITROOM_AMBIGUOUS_CREATES=retry allows/,
          ) as string,
        },
      });
      expect(await creditsOf(item.id)).toEqual({ spent: 0, possibly_spent: 2 });
      // FitRoom made both tasks: charged within [spent, spent + possibly_spent].
      expect(tasksCreated() - charged).toBe(2);
    } finally {
      h.sim.configure({ faults: { resetAfterCreate: {} } });
    }
  });

  it('with FITROOM_AMBIGUOUS_CREATES=fail, a 500 after create fails the item at once', async () => {
    const { item, data } = await readyToCreate();
    const failFast = { ...h.env, deps: { ...h.env.deps, ambiguousCreates: 'fail' as const } };
    h.sim.configure({ faults: { errorAfterCreate: { every: 1 } } });
    try {
      await expect(createStep(failFast, h.runFor(item, data))).rejects.toMatchObject({
        reason: {
          code: 'fitroom_create_ambiguous',
          message: expect.stringMatching(
            /server_error 500.*FITROOM_AMBIGUOUS_CREATES=fail/,
          ) as string,
        },
      });
      expect(await creditsOf(item.id)).toEqual({ spent: 0, possibly_spent: 1 });
    } finally {
      h.sim.configure({ faults: { errorAfterCreate: {} } });
    }
  });

  it('a refused create (503) spends nothing and is left to the retry policy', async () => {
    const { item, data } = await readyToCreate();
    h.sim.configure({ unavailableRate: 1 });
    try {
      const run = h.runFor(item, data);
      await expect(createStep(h.env, run)).rejects.toMatchObject({ code: 'unavailable' });
      expect(run.saved.filter((d) => d.ambiguousCreates !== undefined)).toEqual([]);
      expect(await creditsOf(item.id)).toEqual({ spent: 0, possibly_spent: 0 });
    } finally {
      h.sim.configure({ unavailableRate: 0 });
    }
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
