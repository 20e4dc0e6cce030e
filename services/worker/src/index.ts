export { startWorker, type RunningWorker, type StartWorkerOptions } from './worker.js';
export { nextPollDelayMs, type PollTiming } from './poll-schedule.js';
