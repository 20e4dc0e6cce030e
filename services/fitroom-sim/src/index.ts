export { startSim } from './sim.js';
export { SimConfigError } from './config.js';
export { EnvError, optionsFromEnv } from './env.js';
export { clothesCheckRule, modelCheckRule } from './input-checks.js';
export { sha256hex } from './images.js';
export type {
  ClothesCheckResult,
  ClothesType,
  ModelCheckResult,
  ModelErrorCode,
  ModelWarningCode,
  RunningSim,
  SimKeyStats,
  SimOptions,
  SimStats,
  SimTaskPage,
  SimTaskQuery,
  SimTaskTimes,
} from './options.js';
export type { ErrorBody } from './errors.js';
export type { TaskStatus, TaskView, CreateClothType } from './tasks.js';
