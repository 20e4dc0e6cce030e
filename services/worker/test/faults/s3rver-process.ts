import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';

// s3rver is a dependency of @tryon/testing; its CLI runs it as a process we can kill.
const requireFromTesting = createRequire(
  new URL('../../../../packages/testing/package.json', import.meta.url),
);
const S3RVER_BIN = requireFromTesting.resolve('s3rver/bin/s3rver.js');

export interface S3rverProcess {
  endpoint: string;
  /** The storage settings of a service that uses this server and bucket. */
  env: Record<string, string>;
  /** Starts (or starts again) the server on the same port and directory; resolves once it answers. */
  start(): Promise<void>;
  /** SIGKILL: connections drop at once, as in a crash or a network outage. */
  kill(): Promise<void>;
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    await fetch(endpoint, { signal: AbortSignal.timeout(1_000) });
    return true;
  } catch {
    return false;
  }
}

/** An s3rver the test controls: one port and one directory across stops and starts. */
export function s3rverProcess(options: { port: number; directory: string; bucket: string }) {
  const endpoint = `http://127.0.0.1:${options.port}`;
  let child: ChildProcess | null = null;
  const server: S3rverProcess = {
    endpoint,
    env: {
      STORAGE_DRIVER: 's3',
      S3_BUCKET: options.bucket,
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
      S3_CHECKSUM: 'when_required',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    },
    async start() {
      if (child) throw new Error('s3rver is already running');
      const args = ['-d', options.directory, '-a', '127.0.0.1', '-p', String(options.port)];
      child = spawn(
        process.execPath,
        [S3RVER_BIN, ...args, '--silent', '--configure-bucket', options.bucket],
        { stdio: 'ignore' },
      );
      for (let i = 0; i < 200; i++) {
        if (await answers(endpoint)) return;
        if (child.exitCode !== null) break;
        await sleep(50);
      }
      throw new Error(`s3rver did not start on ${endpoint}`);
    },
    async kill() {
      const running = child;
      child = null;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGKILL');
      await exited;
    },
  };
  return server;
}
