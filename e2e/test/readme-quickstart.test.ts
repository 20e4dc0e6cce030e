import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, freePort, testRedisUrl, uniqueId } from '@tryon/testing';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

/** The fenced ```sh blocks of the README's "Quick start" section, in order. */
async function quickStartBlocks(): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((part) => part.startsWith('Quick start'));
  if (!section) throw new Error('README.md has no "## Quick start" section');
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe("the README's quick start, as a newcomer follows it", () => {
  it('pnpm start, then the curl commands submit a batch whose items complete', async () => {
    // The block before (if any) only fetches Node 24 for an older machine; this test runs on it.
    const blocks = await quickStartBlocks();
    const start = blocks.findIndex((block) => block.trim() === 'pnpm install\npnpm start');
    expect(start).toBeGreaterThanOrEqual(0);
    const curlBlock = blocks[start + 1];
    expect(curlBlock).toContain('/v1/batches');

    // `pnpm start` exactly, on a free port and this test's own Redis prefix and data dir.
    const port = await freePort();
    const dataDir = await mkdtemp(join(tmpdir(), 'quickstart-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const service = spawn('pnpm', ['start'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(port),
        SIM_PORT: '0',
        REDIS_URL: testRedisUrl(),
        QUEUE_PREFIX: uniqueId('quickstart'),
        DATA_DIR: dataDir,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    service.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    service.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => service.once('exit', resolve));
    cleanups.push(async () => {
      try {
        process.kill(-service.pid!, 'SIGKILL'); // whatever of the group is still running
      } catch {
        // the group is gone already
      }
      await exited;
    });
    await eventually(
      () => Promise.resolve(output),
      (text) => text.includes('try-on batch service is up'),
      { timeoutMs: 30_000 },
    ).catch((error: unknown) => {
      throw new Error(`pnpm start did not come up: ${String(error)}\n${output}`);
    });

    // The README's commands, unchanged but for the port.
    const script = curlBlock!.replaceAll('127.0.0.1:3000', `127.0.0.1:${port}`);
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: ROOT,
      timeout: 30_000,
    });
    expect(stdout).toContain('"assets"');
    const batchId = /"id":"(bat_[a-z0-9]+)"/.exec(stdout)?.[1];
    expect(batchId).toBeDefined();

    const base = `http://127.0.0.1:${port}`;
    const batch = await eventually(
      async () =>
        (await fetch(`${base}/v1/batches/${batchId}`)).json() as Promise<{
          status: string;
          counts: Record<string, number>;
        }>,
      (b) => b.status === 'completed',
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(batch.counts).toMatchObject({ total: 2, completed: 2, failed: 0 });
    const page = (await (await fetch(`${base}/v1/batches/${batchId}/items`)).json()) as {
      items: { external_id: string; result: { url: string; content_type: string } }[];
    };
    expect(page.items.map((i) => i.external_id).sort()).toEqual(['outfit', 'shirt']);
    for (const item of page.items) {
      const image = await fetch(item.result.url);
      expect(image.status).toBe(200);
      expect(image.headers.get('content-type')).toBe('image/jpeg');
      expect((await image.arrayBuffer()).byteLength).toBeGreaterThan(1_000);
    }

    // Ctrl-C (SIGINT to the terminal's process group) shuts everything down cleanly.
    process.kill(-service.pid!, 'SIGINT');
    await eventually(
      () => Promise.resolve(output),
      (text) => text.includes('try-on batch service stopped cleanly'),
      { timeoutMs: 30_000 },
    );
    await exited;
  });
});
