/**
 * Runs every `curl` example of FitRoom's API document with the real curl binary, unchanged
 * but for the host, against the simulator, and checks each answers 200 with a documented shape.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSim, type RunningSim } from '../src/index.js';
import {
  curlExamples,
  DOC_HOST,
  documentedResponses,
  endpointOf,
  expectDocumented,
  OBFUSCATED,
  readDoc,
  restoreObfuscatedFileFields,
} from './doc.js';
import { jpeg } from './helpers.js';

function runCurl(args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('curl', args, { cwd, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`curl ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

const doc = readDoc();
const examples = curlExamples(doc);

describe("the document's curl examples, run with curl against the simulator", () => {
  let sim: RunningSim;
  let dir: string;

  beforeAll(async () => {
    sim = await startSim({ keys: { 'your-api-key': 100 }, firstTaskId: 123456, seed: 42 });
    dir = await mkdtemp(join(tmpdir(), 'fitroom-curl-'));
    const files = new Set(
      examples
        .flatMap((example) => restoreObfuscatedFileFields(example))
        .filter((word) => word.includes('=@'))
        .map((word) => word.slice(word.indexOf('=@') + 2)),
    );
    let seed = 1;
    for (const name of files) {
      const isModel = name.startsWith('model');
      await writeFile(
        join(dir, name),
        await jpeg(isModel ? 360 : 240, isModel ? 640 : 240, seed++),
      );
    }
  });

  afterAll(async () => {
    await sim?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('finds the six examples and restores their file fields', () => {
    expect(examples.map((e) => endpointOf(e))).toEqual([
      'POST /api/tryon/v2/tasks',
      'POST /api/tryon/input_check/v1/model',
      'POST /api/tryon/input_check/v1/clothes',
      'POST /api/tryon/v2/tasks',
      'POST /api/tryon/v2/tasks',
      'GET /api/tryon/v2/tasks/:id',
    ]);
    const fileArgs = examples.map((e) =>
      restoreObfuscatedFileFields(e).filter((word) => word.includes('=@')),
    );
    expect(fileArgs).toEqual([
      ['cloth_image=@cloth.jpg', 'model_image=@model.jpg'],
      ['input_image=@model.jpg'],
      ['input_image=@cloth.jpg'],
      ['cloth_image=@cloth.jpg', 'model_image=@model.jpg'],
      [
        'cloth_image=@upper_cloth.jpg',
        'lower_cloth_image=@lower_cloth.jpg',
        'model_image=@model.jpg',
      ],
      [],
    ]);
    for (const example of examples) {
      expect(restoreObfuscatedFileFields(example)).not.toContain(OBFUSCATED);
    }
  });

  it('every example answers 200 with a documented shape', async () => {
    for (const example of examples) {
      const endpoint = endpointOf(example);
      const argv = restoreObfuscatedFileFields(example).map((word) =>
        word.startsWith(DOC_HOST) ? sim.url + word.slice(DOC_HOST.length) : word,
      );
      expect(argv[0]).toBe('curl');
      const before = sim.stats().keys['your-api-key']?.requests[endpoint]?.['200'] ?? 0;

      const { stdout } = await runCurl(argv.slice(1), dir);

      const after = sim.stats().keys['your-api-key']?.requests[endpoint]?.['200'] ?? 0;
      expect(after, `${example.text} answered 200`).toBe(before + 1);
      const body = JSON.parse(stdout) as Record<string, unknown>;
      const documented = documentedResponses(doc, endpoint);
      expect(documented.length).toBeGreaterThan(0);
      expectDocumented(body, documented);
      if (endpoint === 'POST /api/tryon/v2/tasks') expect(body.status).toBe('CREATED');
    }
    const stats = sim.stats();
    expect(stats.keys['your-api-key']).toMatchObject({ http_429: 0, creates: 3, polls: 1 });
    expect(stats.unauthorized).toBe(0);
    // The first example created the document's task 123456, which the GET example then read.
    expect(stats.tasks.created).toBe(3);
  });
});
