export {
  Admission,
  CLOSING_QUANTILE,
  closingTasks,
  createsFirst,
  keyCap,
  type Admitted,
  type AdmissionStats,
  type KeyRoom,
  type ParkedItem,
} from './admission.js';
export { DurationModel, type DurationModelOptions, type TaskMode } from './duration-model.js';
export {
  DurationDistribution,
  normalQuantile,
  normalQuantiles,
  QUANTILE_POINTS,
  sampleQuantiles,
} from './duration-distribution.js';
export {
  defaultPollPolicy,
  distributionOf,
  firstPollDelayMs,
  nextPollDelayMs,
  type DurationEstimate,
  type PollObservation,
  type PollPolicy,
} from './poll-planner.js';
export { expectedPollsPerTask, pollPressure, type KeyOutlook } from './poll-pacing.js';
export {
  batchEta,
  itemsAhead,
  REQUESTS_PER_TASK,
  tailMs,
  throughputPerMs,
  type Eta,
  type EtaInput,
  type WaitingBatch,
} from './eta.js';
