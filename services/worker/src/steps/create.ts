import { isFitRoomError, type CreateTaskInput, type CreateTaskResult } from '@tryon/fitroom-client';
import type { TryonJobData } from '@tryon/domain';
import type { CreditHolder, ItemRecord } from '@tryon/records';
import { firstPollDelayMs } from '@tryon/scheduling';
import { createOutcomeOf, type CreateLedger, type PooledKey } from '@tryon/fitroom-gateway';
import { loadPrepared } from '../prepare.js';
import { ItemFailure, type Step, type StepEnv, type StepOutcome, type StepRun } from './step.js';

type PreparedImage = NonNullable<Awaited<ReturnType<typeof loadPrepared>>>;
type Inputs = NonNullable<TryonJobData['inputs']>;

/**
 * Create: once admitted to a key, one FitRoom task for the item. The task id is saved to the job
 * before anything else (inside the pool's create gate), so a crash resumes polling this task
 * instead of paying for another.
 */
export const createStep: Step = async (env, run) => {
  const { item } = run;
  const { deps, finisher } = env;
  let data = run.data;
  const inputs = data.inputs;
  if (!inputs) return { next: { ...data, step: 'prepare' } };
  // Wait in line until admitted: the admitter promotes this job when a key has room.
  const assigned = data.budgetKey ?? (await deps.admission.assignedKey(item.id));
  if (!assigned) return lineUp(env, item);
  const key = deps.pool.byBudgetKey(assigned);
  if (!key) {
    // Admitted to a key this process does not have (config changed): line up again.
    await finisher.releaseSlot(item.id);
    return { next: { ...data, budgetKey: undefined } };
  }
  run.budgetKey = key.budgetKey;
  const started = await deps.records.transition(item, ['queued', 'running'], 'running');
  if (!started.changed) {
    await finisher.releaseSlot(item.id);
    return { done: 'cancelled' };
  }
  if (data.budgetKey !== key.budgetKey)
    data = await run.save({ ...data, budgetKey: key.budgetKey });
  const images = await loadInputs(env, inputs);
  if (!images) {
    // A prepared input vanished or did not match its content address: prepare it again.
    const inputMismatches = (data.inputMismatches ?? 0) + 1;
    return { next: { ...data, step: 'prepare', inputs: undefined, inputMismatches } };
  }
  // Last look before a credit is spent: a job that lost its lock leaves the item to its new owner.
  await run.fence();
  return createTask(env, run, data, key, images);
};

/** Creates the task, records it, and plans the first poll. */
async function createTask(
  env: StepEnv,
  run: StepRun,
  data: TryonJobData,
  key: PooledKey,
  images: PreparedImage[],
): Promise<StepOutcome> {
  const { item } = run;
  const { deps } = env;
  const holder = { itemId: item.id, batchId: item.batch_id, budgetKey: key.budgetKey };
  let created: CreateTaskResult;
  try {
    created = await deps.pool.createTask(
      key,
      createInput(item, images),
      (task) =>
        run.save({
          ...data,
          step: 'poll',
          taskId: task.task_id,
          budgetKey: key.budgetKey,
          taskCreatedAt: Date.now(),
          polls: 0,
        }),
      creditLedger(env, holder),
    );
  } catch (error) {
    if (createOutcomeOf(error) === 'possibly_spent') {
      await afterAmbiguousCreate(env, run, data, error);
    }
    throw error;
  }
  await deps.records.updateItem(item.id, {
    fitroom_task_id: created.task_id,
    attempts: item.attempts + 1,
  });
  await deps.operations.taskStarted(item.id, created.task_id);
  const estimate = deps.durations.estimate(item.hd_mode ? 'hd' : 'normal');
  // The cached reading often predates this item's admission, when it still waited in line
  // (saturated): its first poll would go at the high quantile. A failed read keeps the cached one.
  await deps.readBudget().catch(() => undefined);
  return {
    delayMs: firstPollDelayMs(
      deps.pollPolicy,
      estimate,
      deps.pollPressure(key.budgetKey, estimate, 0),
    ),
  };
}

/** The create's credit on the item, its batch and its key (see CreditBook), and the metrics. */
function creditLedger(env: StepEnv, holder: CreditHolder): CreateLedger {
  const { credits } = env.deps;
  return {
    open: () => credits.open(holder),
    async settle(outcome) {
      if (outcome === 'spent') await credits.confirm(holder);
      else if (outcome !== 'possibly_spent') await credits.cancel(holder);
      if (outcome === 'spent' || outcome === 'possibly_spent')
        env.deps.onCredit?.(holder.budgetKey, outcome);
    },
  };
}

/**
 * A create whose answer never came: FitRoom may have made (and charged) a task whose id we will
 * never know. Creating again may pay twice, so FITROOM_AMBIGUOUS_CREATES allows it once per run
 * (`retry`: the error goes on to the retry policy) or not at all (`fail`).
 */
async function afterAmbiguousCreate(
  env: StepEnv,
  run: StepRun,
  data: TryonJobData,
  error: unknown,
): Promise<void> {
  const ambiguous = (data.ambiguousCreates ?? 0) + 1;
  const what = isFitRoomError(error)
    ? `${error.code}${error.status ? ` ${error.status}` : ''}`
    : 'no answer';
  if (env.deps.ambiguousCreates === 'fail' || ambiguous > 1) {
    const why =
      env.deps.ambiguousCreates === 'fail'
        ? 'FITROOM_AMBIGUOUS_CREATES=fail'
        : 'the one retry FITROOM_AMBIGUOUS_CREATES=retry allows was spent';
    throw new ItemFailure({
      code: 'fitroom_create_ambiguous',
      message:
        `FitRoom gave no usable answer to ${ambiguous === 1 ? 'a create' : `${ambiguous} creates`} ` +
        `(${what}); it may have made a task that cannot be found, and ${why}`,
    });
  }
  // Saved before the retry: BullMQ runs the next attempt on the job's stored data.
  await run.save({ ...data, ambiguousCreates: ambiguous });
}

/**
 * Back in line without a key (first time, or after losing one to a 401/402): queued again, as
 * admission only takes queued items (and cancel may take it: it has no task).
 */
async function lineUp(env: StepEnv, item: ItemRecord): Promise<StepOutcome> {
  const { records } = env.deps;
  if (item.status === 'running') await records.transition(item, ['running'], 'queued');
  const batch = await records.getBatch(item.batch_id);
  return {
    park: {
      id: item.id,
      batchId: item.batch_id,
      tenantId: item.tenant_id,
      priority: batch?.priority ?? 0,
    },
  };
}

/** The prepared images, or null when one of them is no longer stored. */
async function loadInputs(env: StepEnv, inputs: Inputs): Promise<PreparedImage[] | null> {
  const keys = [inputs.model, inputs.cloth, inputs.lowerCloth].filter(
    (k): k is string => k !== undefined,
  );
  const loaded = await Promise.all(keys.map((k) => loadPrepared(k, env.deps.storage)));
  const images = loaded.filter((image) => image !== null);
  return images.length < keys.length ? null : images;
}

function createInput(item: ItemRecord, images: PreparedImage[]): CreateTaskInput {
  const [model, cloth, lowerCloth] = images;
  if (item.cloth_type === 'combo') {
    return {
      clothType: 'combo',
      model: model!,
      cloth: cloth!,
      lowerCloth: lowerCloth!,
      hdMode: item.hd_mode,
    };
  }
  return { clothType: item.cloth_type, model: model!, cloth: cloth!, hdMode: item.hd_mode };
}
