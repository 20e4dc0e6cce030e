/**
 * Secrets never reach the logs. The api and a worker run as their own processes, exactly as
 * `pnpm start:api` and `pnpm start:worker` run them, at LOG_LEVEL=debug, against the simulator,
 * a webhook receiver and an S3 server that checks no signature (so its secret can be one only
 * this test knows). A full flow touches every place a credential goes: uploads, a batch with a
 * webhook, FitRoom creates, polls and input checks with the FitRoom key, signed result links,
 * the tenant's webhook secret, a wrong token, admin calls and replays. Then every line either
 * process wrote, stdout and stderr, is searched for every secret.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FitRoomClient, type Task } from '@tryon/fitroom-client';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import {
  eventually,
  freePort,
  makeImage,
  serviceEnv,
  spawnService,
  startWebhookReceiver,
  uniqueId,
  type ServiceProcess,
  type WebhookReceiver,
} from '@tryon/testing';
import { tenantSigningSecret } from '@tryon/webhooks';

const TIME_SCALE = 50;
/** Distinctive values: any of them in a log line is a leak, not a coincidence. */
const SECRETS = {
  fitroomKey: 'fk-LEAKCHECK-fitroom-7f3a9c21e4',
  acmeToken: 'tt-LEAKCHECK-acme-5d6e7f80a1b2',
  globexToken: 'tt-LEAKCHECK-globex-c3d4e5f6a7',
  adminToken: 'at-LEAKCHECK-admin-9a8b7c6d5e',
  webhookSecret: 'ws-LEAKCHECK-master-0f1e2d3c4b5a6978',
  s3SecretKey: 's3-LEAKCHECK-secret-b7c8d9e0f1a2',
} as const;
const S3_ACCESS_KEY_ID = 'S3RVER';

interface S3rverLike {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}

/**
 * An S3 server of this test's own that accepts any signature: the api and worker sign with a
 * secret key nobody else uses. s3rver is @tryon/testing's dependency, loaded from there.
 */
async function startPermissiveS3(): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const require = createRequire(new URL('../../packages/testing/package.json', import.meta.url));
  const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverLike;
  const directory = await mkdtemp(join(tmpdir(), 's3rver-secrets-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    allowMismatchedSignatures: true,
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

let sim: RunningSim;
let s3: { endpoint: string; close: () => Promise<void> };
let receiver: WebhookReceiver;
let api: ServiceProcess;
let worker: ServiceProcess;
let apiUrl: string;
/** Values the flow itself produced that must not be logged either (result-link signatures). */
const producedSecrets: string[] = [];

beforeAll(async () => {
  sim = await startSim({
    timeScale: TIME_SCALE,
    keys: { [SECRETS.fitroomKey]: 1_000_000 },
    seed: 11,
  });
  s3 = await startPermissiveS3();
  receiver = await startWebhookReceiver();
  const bucket = uniqueId('secrets').toLowerCase();
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: SECRETS.s3SecretKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();

  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  const env = serviceEnv({
    prefix: uniqueId('e2e-secrets'),
    simUrl: sim.url,
    apiKeys: [SECRETS.fitroomKey],
    timeScale: TIME_SCALE,
    extra: {
      LOG_LEVEL: 'debug',
      PORT: String(port),
      PUBLIC_URL: apiUrl,
      API_TOKENS: `acme:${SECRETS.acmeToken},globex:${SECRETS.globexToken}`,
      ADMIN_TOKEN: SECRETS.adminToken,
      WEBHOOK_SECRET: SECRETS.webhookSecret,
      STORAGE_DRIVER: 's3',
      S3_BUCKET: bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
      S3_CHECKSUM: 'when_required',
      AWS_ACCESS_KEY_ID: S3_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRETS.s3SecretKey,
      // A FAILED task fails its item at once (the second batch below).
      FITROOM_FAILED_TASK_RETRIES: '0',
    },
  });
  worker = spawnService('worker', env);
  api = spawnService('api', env);
  await eventually(
    () =>
      request(`${apiUrl}/readyz`).then(
        async (r) => ({ status: r.statusCode, body: await r.body.text() }),
        () => ({ status: 0, body: '' }),
      ),
    (r) => r.status === 200,
    { timeoutMs: 60_000, intervalMs: 100 },
  );
}, 120_000);

afterAll(async () => {
  await api?.stop();
  await worker?.stop();
  await receiver?.close();
  await sim?.close();
  await s3?.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function call<T>(
  method: 'GET' | 'POST',
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; json: T }> {
  const response = await request(`${apiUrl}${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.body.text();
  return { status: response.statusCode, json: (text ? JSON.parse(text) : null) as T };
}

describe('a full run at LOG_LEVEL=debug', () => {
  it('logs no FitRoom key, tenant or admin token, webhook secret, tenant signing secret or S3 secret', async () => {
    const acme = bearer(SECRETS.acmeToken);
    // Uploads, then a batch with a webhook.
    const form = new FormData();
    const images = await Promise.all([
      makeImage({ width: 300, height: 400, color: { r: 20, g: 40, b: 60 } }),
      makeImage({ width: 200, height: 200, color: { r: 200, g: 30, b: 30 } }),
      makeImage({ width: 200, height: 220, color: { r: 30, g: 200, b: 30 } }),
    ]);
    images.forEach((bytes, i) =>
      form.append('file', new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }), `i${i}.jpg`),
    );
    const uploaded = await fetch(`${apiUrl}/v1/assets`, {
      method: 'POST',
      headers: acme,
      body: form,
    });
    expect(uploaded.status).toBe(201);
    const [model, shirt, trousers] = (
      (await uploaded.json()) as { assets: { id: string }[] }
    ).assets.map((a) => a.id);
    const batch = await call<{ id: string }>('POST', '/v1/batches', acme, {
      items: [
        { model, cloth: shirt, cloth_type: 'upper' },
        { model, cloth: trousers, cloth_type: 'lower' },
        { model, cloth: shirt, lower_cloth: trousers, cloth_type: 'combo' },
      ],
      webhook_url: receiver.url,
      metadata: { note: 'secrets run' },
    });
    expect(batch.status).toBe(202);

    // Wrong credentials everywhere credentials go.
    expect((await call('GET', '/v1/batches', bearer(`${SECRETS.acmeToken}x`))).status).toBe(401);
    expect((await call('GET', '/admin/status', acme)).status).toBe(401);
    expect((await call('GET', '/admin/status', bearer(`x${SECRETS.adminToken}`))).status).toBe(401);
    expect(
      (
        await call('GET', '/api/tryon/v2/tasks/itm_00000000000000000000', {
          'x-api-key': `${SECRETS.globexToken}x`,
        })
      ).status,
    ).toBe(401);
    // A credential in a query string, where a careless client might put one.
    expect((await call('GET', `/v1/batches?token=${SECRETS.acmeToken}`, acme)).status).toBe(400);

    // The tenant's signing secret is served, never logged.
    const secret = await call<{ secret: string }>('GET', '/v1/webhooks/secret', acme);
    expect(secret.json.secret).toBe(tenantSigningSecret(SECRETS.webhookSecret, 'acme'));

    // FitRoom-compatible: create, poll, download by the signed link, an input check (forwarded
    // to FitRoom with this service's key).
    const fitroom = new FitRoomClient({
      baseUrl: apiUrl,
      apiKey: SECRETS.globexToken,
      timeoutMs: 20_000,
    });
    const created = await fitroom.createTask({
      clothType: 'upper',
      model: { data: images[0] },
      cloth: { data: images[1] },
    });
    const task = await eventually<Task>(
      () => fitroom.getTask(created.task_id),
      (t) => t.status === 'COMPLETED' || t.status === 'FAILED',
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(task.status).toBe('COMPLETED');
    if (task.status === 'COMPLETED') {
      const link = new URL(task.download_signed_url);
      producedSecrets.push(link.searchParams.get('signature')!);
      const download = await fitroom.downloadResult(task.download_signed_url);
      for await (const _chunk of download.body) {
        // read it all
      }
    }
    const check = await fitroom.checkModel({ data: images[0] });
    expect(check).toHaveProperty('is_good');

    // The batch finishes, its events arrive signed, an operator and the tenant replay them.
    await eventually(
      () => call<{ status: string }>('GET', `/v1/batches/${batch.json.id}`, acme),
      (r) => r.json.status === 'completed',
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    await receiver.waitFor((r) => r.length >= 4, 30_000);
    const admin = bearer(SECRETS.adminToken);
    expect((await call('GET', '/admin/status', admin)).status).toBe(200);
    expect(
      (await call('POST', `/admin/batches/${batch.json.id}/webhooks/replay`, admin)).status,
    ).toBe(202);
    expect((await call('POST', `/v1/batches/${batch.json.id}/webhooks/replay`, acme)).status).toBe(
      202,
    );
    await receiver.waitFor((r) => r.length >= 12, 30_000);
    // The worker records an attempt once the receiver's answer is in: wait for all of them.
    await eventually(
      () => call<{ deliveries: unknown[] }>('GET', `/v1/batches/${batch.json.id}/deliveries`, acme),
      (r) => r.json.deliveries.length >= 12,
      { timeoutMs: 30_000, intervalMs: 100 },
    );

    // Failure paths log the most: FitRoom tasks that fail, a receiver that is down.
    sim.configure({ failureRate: 1 });
    receiver.respondWith(503);
    const failing = await call<{ id: string }>('POST', '/v1/batches', acme, {
      // Pairs not rendered before: a rendered pair would be reused, not sent to FitRoom.
      items: [
        { model: shirt, cloth: trousers, cloth_type: 'lower' },
        { model: trousers, cloth: shirt, cloth_type: 'full_set' },
      ],
      webhook_url: receiver.url,
    });
    expect(failing.status).toBe(202);
    await eventually(
      () =>
        call<{ deliveries: { ok: boolean }[] }>(
          'GET',
          `/v1/batches/${failing.json.id}/deliveries`,
          acme,
        ),
      (r) => r.json.deliveries.some((d) => !d.ok),
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    // Failed, most likely (how a FAILED task ends its item is the worker's business).
    await eventually(
      () => call<{ status: string }>('GET', `/v1/batches/${failing.json.id}`, acme),
      (r) => r.json.status === 'completed',
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    receiver.respondWith(204);
    const before = receiver.received.length;
    const replayed = await call('POST', `/admin/batches/${failing.json.id}/webhooks/replay`, admin);
    expect(replayed.status).toBe(202);
    // Two item events and batch.completed, whatever the items' outcome.
    await receiver.waitFor((r) => r.length >= before + 3, 30_000);

    // Stop both processes so every line is flushed, then read everything they wrote.
    expect(await api.stop()).toBe(0);
    expect(await worker.stop()).toBe(0);
    const apiLines = api.output().split('\n').filter(Boolean);
    const workerLines = worker.output().split('\n').filter(Boolean);
    // The logs are real and complete: debug request lines from the api, the worker's own lines.
    expect(apiLines.some((l) => l.includes('"incoming request"'))).toBe(true);
    expect(apiLines.some((l) => l.includes('/api/tryon/v2/results/'))).toBe(true);
    expect(workerLines.some((l) => l.includes('tryon-worker'))).toBe(true);

    const signing = tenantSigningSecret(SECRETS.webhookSecret, 'acme');
    const forbidden: Record<string, string> = {
      ...SECRETS,
      acmeSigningSecret: signing,
      acmeSigningKeyBase64: signing.slice('whsec_'.length),
      globexSigningSecret: tenantSigningSecret(SECRETS.webhookSecret, 'globex').slice(
        'whsec_'.length,
      ),
      ...Object.fromEntries(producedSecrets.map((s, i) => [`resultLinkSignature${i}`, s])),
    };
    const leaks: string[] = [];
    for (const [name, lines] of [
      ['api', apiLines],
      ['worker', workerLines],
    ] as const) {
      for (const line of lines) {
        for (const [what, value] of Object.entries(forbidden)) {
          if (line.includes(value) || line.includes(encodeURIComponent(value))) {
            leaks.push(`${name} logged the ${what}: ${line.slice(0, 300)}`);
          }
        }
      }
    }
    expect(leaks).toEqual([]);
    console.log(`secrets: searched ${apiLines.length} api and ${workerLines.length} worker lines`);
  }, 180_000);
});
