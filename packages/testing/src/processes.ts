import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const ENTRY_POINTS = {
  api: 'services/api/src/main.ts',
  worker: 'services/worker/src/main.ts',
  sim: 'services/fitroom-sim/src/main.ts',
} as const;

export interface ServiceProcess {
  child: ChildProcess;
  /** Everything the process wrote, stdout and stderr, in order. */
  output(): string;
  /** SIGKILL: no graceful close, as a crash or an OOM kill would. */
  kill(): Promise<void>;
  /** SIGTERM, then wait for the exit code. */
  stop(): Promise<number | null>;
}

/** Runs one of the project's entry points as its own process, exactly as `pnpm start:*` does. */
export function spawnService(
  name: keyof typeof ENTRY_POINTS,
  env: Record<string, string>,
): ServiceProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY_POINTS[name]], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return {
    child,
    output: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
