import type { Task } from '@tryon/fitroom-client';
import type { TryonJobData } from '@tryon/domain';
import { nextPollDelayMs } from '@tryon/scheduling';
import { isTaskGone } from '../error-policy.js';
import type { PooledKey } from '@tryon/fitroom-gateway';
import { ItemFailure, type Step, type StepEnv, type StepOutcome, type StepRun } from './step.js';

type TaskIn<S extends Task['status']> = Extract<Task, { status: S }>;

/**
 * Poll: reads the task once. Done: on to store. FAILED: re-created (up to the configured number
 * of tasks). Otherwise: polled again later, at a time the poll planner picks.
 */
export const pollStep: Step = async (env, run) => {
  const key = await taskKey(env, run);
  const taskId = run.data.taskId;
  if (!key || !taskId) {
    // The key that made the task is gone from the config: the task cannot be read.
    return { next: { ...run.data, step: 'create', taskId: undefined, budgetKey: undefined } };
  }
  // Kept in the job from now on (store downloads with it, the next poll reads with it).
  if (run.data.budgetKey !== key.budgetKey) run.data = { ...run.data, budgetKey: key.budgetKey };
  const { data } = run;
  run.budgetKey = key.budgetKey;
  const task = await readTask(key, taskId, data.taskCreatedAt);
  const polls = (data.polls ?? 0) + 1;
  if (task.status === 'COMPLETED') return completed(env, run, task, polls);
  if (task.status === 'FAILED') return failed(env, run, task, polls);
  return pollAgain(env, run, task, key, polls);
};

/**
 * The key that created the task: the job's, or (for a job the sweeper made again from the item)
 * the key the item was admitted to, or the only key there is.
 */
async function taskKey(env: StepEnv, run: StepRun): Promise<PooledKey | undefined> {
  const { pool, admission } = env.deps;
  if (run.data.budgetKey) return pool.byBudgetKey(run.data.budgetKey);
  const assigned = await admission.assignedKey(run.item.id);
  if (assigned) return pool.byBudgetKey(assigned);
  return pool.keys.length === 1 ? pool.keys[0] : undefined;
}

/**
 * How long after its create a task FitRoom answers 404 for is taken as not visible yet (FitRoom
 * may not show a task it has just made for a moment) rather than lost: it is polled again.
 */
export const TASK_VISIBILITY_GRACE_MS = 30_000;

/**
 * The task; a CREATED one when FitRoom does not show it yet right after its create; a FAILED
 * one when FitRoom no longer knows it (it is then re-created).
 */
async function readTask(
  key: PooledKey,
  taskId: string,
  createdAt: number | undefined,
): Promise<Task> {
  try {
    return await key.client.getTask(taskId);
  } catch (error) {
    if (!isTaskGone(error)) throw error;
    if (createdAt !== undefined && Date.now() - createdAt < TASK_VISIBILITY_GRACE_MS) {
      return { task_id: taskId, status: 'CREATED', progress: 0 };
    }
    return { task_id: taskId, status: 'FAILED', error: 'FitRoom no longer knows this task' };
  }
}

async function completed(
  env: StepEnv,
  run: StepRun,
  task: TaskIn<'COMPLETED'>,
  polls: number,
): Promise<StepOutcome> {
  const { deps, finisher } = env;
  // FitRoom is done with it: the slot goes to the next item while we download.
  await finisher.releaseSlot(run.item.id);
  if (task.created_at !== undefined && task.completed_at !== undefined) {
    await deps.durations.observe(taskMode(run), task.created_at, task.completed_at);
  }
  if (task.completed_at !== undefined) {
    // completed_at has whole seconds: up to 1 s of the lag is FitRoom's rounding.
    deps.observer?.detectionLag(Math.max(0, Date.now() - task.completed_at * 1000));
  }
  return { next: { ...run.data, step: 'store', polls, downloadUrl: task.download_signed_url } };
}

async function failed(
  env: StepEnv,
  run: StepRun,
  task: TaskIn<'FAILED'>,
  polls: number,
): Promise<StepOutcome> {
  const { data, item } = run;
  // The item keeps its slot (and key) for the next task, if it gets one.
  const failedTasks = (data.failedTasks ?? 0) + 1;
  await env.deps.operations.taskEnded(item.id);
  if (failedTasks > env.deps.failedTaskRetries) {
    throw new ItemFailure({
      code: 'fitroom_task_failed',
      message: `FitRoom task ${data.taskId} failed: ${task.error || 'no reason given'} (after ${failedTasks} tasks)`,
    });
  }
  const recreate: TryonJobData = {
    ...data,
    step: 'create',
    taskId: undefined,
    budgetKey: undefined,
    failedTasks,
    polls,
  };
  return { next: recreate };
}

function pollAgain(
  env: StepEnv,
  run: StepRun,
  task: TaskIn<'CREATED' | 'PROCESSING'>,
  key: PooledKey,
  polls: number,
): StepOutcome {
  const { deps } = env;
  const { data } = run;
  const createdAt = data.taskCreatedAt ?? Date.now();
  const elapsedMs = Date.now() - createdAt;
  if (elapsedMs > deps.taskTimeoutMs) {
    throw new ItemFailure({
      code: 'fitroom_task_timeout',
      message: `FitRoom task ${data.taskId} was still ${task.status} ${Math.round(elapsedMs / 1000)} s after it was created`,
    });
  }
  const estimate = deps.durations.estimate(taskMode(run));
  const plannedMs = nextPollDelayMs(
    deps.pollPolicy,
    estimate,
    {
      status: task.status,
      progress: task.status === 'PROCESSING' ? task.progress : 0,
      elapsedMs,
    },
    deps.pollPressure(key.budgetKey, estimate, elapsedMs),
  );
  // An overdue task's gaps grow with its age: its last poll still comes when its time is up.
  const delayMs = Math.min(plannedMs, deps.taskTimeoutMs - elapsedMs + 1);
  return { delayMs, data: { ...data, polls } };
}

function taskMode(run: StepRun): 'hd' | 'normal' {
  return run.item.hd_mode ? 'hd' : 'normal';
}
