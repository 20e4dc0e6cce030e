/**
 * The FitRoom simulator as a service, configured by SIM_* environment variables (see
 * env.ts). `pnpm start:sim`; `--help` lists the variables.
 */
import { EnvError, ENV_HELP, optionsFromEnv } from './env.js';
import { startSim } from './sim.js';

if (process.argv.includes('--help')) {
  console.log('FitRoom simulator. Environment:');
  for (const [name, help] of Object.entries(ENV_HELP)) console.log(`  ${name.padEnd(22)} ${help}`);
  process.exit(0);
}

let options;
try {
  options = optionsFromEnv(process.env);
} catch (error) {
  if (!(error instanceof EnvError)) throw error;
  console.error(error.message);
  process.exit(1);
}

const sim = await startSim(options);
console.log(
  `FitRoom simulator listening on ${sim.url} (host ${options.host}, ` +
    `${Object.keys(options.keys ?? {}).length} key(s), time scale ${options.timeScale ?? 1})`,
);

let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: closing the FitRoom simulator`);
  sim.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
