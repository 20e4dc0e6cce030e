import type { Step } from './step.js';

/** Notify: the item is completed; its webhook events (and the batch's, if it was the last) go out. */
export const notifyStep: Step = async (env, run) => {
  await env.finisher.finish(run.item, 'completed', null);
  return { done: 'completed' };
};
