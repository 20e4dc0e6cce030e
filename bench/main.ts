/**
 * `pnpm bench <scenario> [flags]`: benchmarks of the real api and worker processes against the
 * FitRoom simulator (DESIGN.md "Benchmarks"). Each run starts its own stack (simulator, api,
 * N workers, a fresh QUEUE_PREFIX and DATA_DIR) and cleans it up, even on errors and Ctrl-C.
 * Human output goes to stdout (progress to stderr); the last stdout line is one JSON object.
 *
 *   pnpm bench throughput [--workers 4] [--keys 1] [--hd] [--tasks N] [--time-scale 20] [--light [--warmup 24]]
 *   pnpm bench fairness   [--a-items 1000] [--b-items 10]
 *   pnpm bench ingest     [--items 10000] [--rate 200] [--duration 15] [--drain]
 *   pnpm bench integrity  [--items 200] [--workers 4]
 *   pnpm bench latency    [--sizes 1,12,120] [--families lognormal,bimodal] [--curves linear] [--warmup 24]
 *   common: --jitter 0.1 --seed N --runs N --timeout S --json --keep --env KEY=VALUE --sim-env KEY=VALUE
 */
import { availableParallelism } from 'node:os';
import { usage, UsageError } from './lib/args.js';
import { cleanUpOnSignals, interrupted, runCleanups } from './lib/cleanup.js';
import { ClockWatch } from './lib/clock-watch.js';
import { Reporter } from './lib/report.js';
import { summarizeRuns, type JsonRecord } from './lib/stats.js';
import type { CommonOptions, Scenario } from './scenarios/common.js';
import { fairness } from './scenarios/fairness.js';
import { ingest } from './scenarios/ingest.js';
import { integrity } from './scenarios/integrity.js';
import { latency } from './scenarios/latency.js';
import { throughput } from './scenarios/throughput.js';

type AnyScenario = Scenario<{ common: CommonOptions }>;

const SCENARIOS: Record<string, AnyScenario> = {
  throughput,
  fairness,
  ingest,
  integrity,
  latency,
};

function overview(): string {
  return [
    'pnpm bench <scenario> [flags]   (pnpm bench <scenario> --help for its flags)',
    '',
    ...Object.values(SCENARIOS).map((s) => `  ${s.name.padEnd(12)} ${s.summary}`),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    console.log(overview());
    return name === undefined ? 2 : 0;
  }
  const scenario = SCENARIOS[name];
  if (!scenario) {
    console.error(`bench: unknown scenario "${name}"\n\n${overview()}`);
    return 2;
  }
  if (args.includes('--help')) {
    console.log(usage(scenario.name, scenario.summary, scenario.flags));
    return 0;
  }
  let options: { common: CommonOptions };
  try {
    options = scenario.resolve(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(
      `bench ${name}: ${error.message}\n\n${usage(scenario.name, scenario.summary, scenario.flags)}`,
    );
    return 2;
  }

  const reporter = new Reporter(options.common.json);
  cleanUpOnSignals();
  const records: JsonRecord[] = [];
  const total = options.common.runs;
  for (let i = 0; i < total; i++) {
    if (total > 1) reporter.progress(`run ${i + 1} of ${total}`);
    const clock = new ClockWatch();
    const result = await scenario.run(options, reporter);
    const clockStepsMs = clock.stop();
    if (clockStepsMs > 0) {
      reporter.progress(
        `the wall clock stepped by ${clockStepsMs} ms during this run: the budget (Redis TIME) and the simulator (monotonic) disagreed, so 429s may come from that`,
      );
    }
    const record = {
      ...result,
      wall_clock_steps_ms: clockStepsMs,
      machine_cpus: availableParallelism(),
      ...(total > 1 && { run: i + 1 }),
    };
    records.push(record);
    reporter.json(record);
  }
  if (total > 1) {
    const summary = summarizeRuns(records.map(({ run: _run, ...rest }) => rest));
    reporter.summary(`${name}: ${total} runs, median (min .. max)`, summaryRows(summary));
    reporter.json(summary);
  }
  return 0;
}

/** One row per top-level number of a summary: median (min .. max). */
function summaryRows(summary: JsonRecord): [string, string][] {
  const min = summary.min as Record<string, number>;
  const max = summary.max as Record<string, number>;
  return Object.keys(min)
    .filter((k) => min[k] !== max[k])
    .map((k) => [k, `${String(summary[k])} (${min[k]} .. ${max[k]})`]);
}

let code: number;
try {
  code = await main(process.argv.slice(2));
} catch (error) {
  // After Ctrl-C the services go away under the run; its errors say nothing new.
  if (!interrupted()) {
    console.error(
      'bench: failed:',
      error instanceof Error ? (error.stack ?? error.message) : error,
    );
  }
  code = 1;
} finally {
  await runCleanups();
}
// On a signal the handler exits once its cleanup is done.
if (!interrupted()) process.exit(code);
