import type { TryonJobData } from '@tryon/domain';
import { createStep } from './create.js';
import { notifyStep } from './notify.js';
import { pollStep } from './poll.js';
import { prepareStep } from './prepare.js';
import type { Step } from './step.js';
import { storeStep } from './store.js';

/** The steps of a try-on job, by the name saved in its data. */
export const STEPS: Record<TryonJobData['step'], Step> = {
  prepare: prepareStep,
  create: createStep,
  poll: pollStep,
  store: storeStep,
  notify: notifyStep,
};

export { ItemFinisher } from './finish.js';
export {
  ItemFailure,
  StaleRunError,
  type Step,
  type StepEnv,
  type StepOutcome,
  type StepRun,
} from './step.js';
export type { TryonDeps, TryonOutcome } from './step.js';
