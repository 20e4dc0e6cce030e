/**
 * An s3rver process for benchmarks that run the services on S3 storage: its own port, temp
 * directory and bucket, stopped at cleanup. s3rver writes objects in place, as the tests' does,
 * which is what makes a concurrent write of one key visible to a reader.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { onCleanup } from './cleanup.js';
import { freePort } from './processes.js';

// s3rver is a dependency of @tryon/testing.
const requireFromTesting = createRequire(
  new URL('../../packages/testing/package.json', import.meta.url),
);

export interface S3rver {
  /** STORAGE_DRIVER=s3 and the S3_* settings of a service using this server's bucket. */
  env: Record<string, string>;
  close(): Promise<void>;
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    await fetch(endpoint, { signal: AbortSignal.timeout(1_000) });
    return true;
  } catch {
    return false;
  }
}

export async function startS3rver(bucket: string): Promise<S3rver> {
  const port = await freePort();
  const directory = await mkdtemp(join(tmpdir(), 'tryon-bench-s3-'));
  const endpoint = `http://127.0.0.1:${port}`;
  const bin = requireFromTesting.resolve('s3rver/bin/s3rver.js');
  const args = ['-d', directory, '-a', '127.0.0.1', '-p', String(port), '--silent'];
  const child = spawn(process.execPath, [bin, ...args, '--configure-bucket', bucket], {
    stdio: 'ignore',
  });
  const close = onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await rm(directory, { recursive: true, force: true });
  });
  for (let i = 0; i < 200 && !(await answers(endpoint)); i++) {
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  if (!(await answers(endpoint))) {
    await close();
    throw new Error(`s3rver did not start on ${endpoint}`);
  }
  return {
    env: {
      STORAGE_DRIVER: 's3',
      S3_BUCKET: bucket,
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
      S3_CHECKSUM: 'when_required',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    },
    close,
  };
}
