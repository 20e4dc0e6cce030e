import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'services/cli/bin/tryon.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout as JSON (the --json output), or an error showing both streams. */
  json: <T = Record<string, unknown>>() => T;
}

export interface CliTarget {
  url: string;
  token: string;
  /** XDG_CACHE_HOME of the run: where the CLI keeps its upload cache. */
  cacheHome: string;
}

/** `node services/cli/bin/tryon.js ...args` as a child process, exactly as a user runs it. */
export function runTryon(
  target: CliTarget,
  args: string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: {
        ...process.env,
        TRYON_URL: target.url,
        TRYON_TOKEN: target.token,
        XDG_CACHE_HOME: target.cacheHome,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) =>
      resolve({
        code,
        stdout,
        stderr,
        json: <T>() => {
          try {
            return JSON.parse(stdout) as T;
          } catch {
            throw new Error(`not JSON (exit ${code}):\n${stdout}\n${stderr}`);
          }
        },
      }),
    );
  });
}
