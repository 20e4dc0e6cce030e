import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { testRedisUrl, uniqueId } from '@tryon/testing';

const tsx = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

function run(env: Record<string, string>) {
  const child = spawn(tsx, [main], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, exited, output: () => ({ stdout, stderr }) };
}

describe('pnpm start:api (src/main.ts)', () => {
  it('prints every configuration problem and exits 1 on a bad environment', async () => {
    const proc = run({ PORT: 'eighty', REDIS_URL: 'http://not-redis', API_TOKENS: 'acme:short' });
    const [code] = await proc.exited;
    expect(code).toBe(1);
    const { stderr } = proc.output();
    expect(stderr).toContain('PORT');
    expect(stderr).toContain('REDIS_URL');
    expect(stderr).toContain('API_TOKENS');
    expect(stderr).not.toContain('short');
  });

  it('serves until SIGTERM, then shuts down cleanly', async () => {
    const proc = run({
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: uniqueId('api-main'),
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: `/tmp/${uniqueId('api-main')}`,
      API_TOKENS: 'acme:acme-token-0123456789',
      WEBHOOK_SECRET: 'webhook-master-secret-0123456789',
    });
    // Wait for the line that says where it listens (no sleeps: the line is the signal).
    const url = await new Promise<string>((resolve, reject) => {
      const onData = () => {
        const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(proc.output().stdout);
        if (match) {
          proc.child.stdout.off('data', onData);
          resolve(match[1]!);
        }
      };
      proc.child.stdout.on('data', onData);
      void proc.exited.then(() => reject(new Error(`exited early: ${proc.output().stderr}`)));
    });
    const res = await fetch(`${url}/v1/batches`, {
      headers: { authorization: 'Bearer acme-token-0123456789' },
    });
    expect(res.status).toBe(200);
    proc.child.kill('SIGTERM');
    const [code] = await proc.exited;
    expect(code).toBe(0);
    const { stdout } = proc.output();
    expect(stdout).toContain('shutting down');
    expect(stdout).not.toContain('acme-token-0123456789');
  });
});
