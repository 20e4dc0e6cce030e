import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig, parseDuration } from '../src/index.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('runs on embedded defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.port).toBe(3000);
    expect(config.publicUrl).toBe('http://127.0.0.1:3000');
    expect(config.storage).toEqual({ driver: 'fs', dataDir: './data' });
    expect(config.fitroom).toMatchObject({ apiKeys: [], rateLimit: 60, rateWindowMs: 60_000 });
    expect(config.tenants).toEqual([]);
    expect(config.webhooks.retryScheduleMs).toEqual([
      5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000,
    ]);
  });

  it('reads every documented variable', () => {
    const config = loadConfig({
      REDIS_URL: 'redis://cache:6380/2',
      HOST: '127.0.0.1',
      PORT: '8080',
      FITROOM_BASE_URL: 'http://127.0.0.1:3001/',
      FITROOM_API_KEYS: 'k1, k2,,k3',
      FITROOM_RATE_LIMIT: '30',
      FITROOM_RATE_WINDOW_MS: '3000',
      STORAGE_DRIVER: 's3',
      S3_BUCKET: 'results',
      S3_ENDPOINT: 'http://127.0.0.1:4569',
      S3_CHECKSUM: 'when_required',
      API_TOKENS: 'acme:acme-token-1,globex:globex-token-2',
      ADMIN_TOKEN: 'admin-token',
      WEBHOOK_SECRET: 'a-very-long-master-secret',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    expect(config.fitroom.baseUrl).toBe('http://127.0.0.1:3001');
    expect(config.fitroom.apiKeys).toEqual(['k1', 'k2', 'k3']);
    expect(config.storage).toMatchObject({
      driver: 's3',
      bucket: 'results',
      forcePathStyle: true,
      checksum: 'when_required',
    });
    expect(config.tenants.map((t) => t.id)).toEqual(['acme', 'globex']);
    expect(config.webhooks.allowPrivateNetworks).toBe(true);
    expect(config.publicUrl).toBe('http://127.0.0.1:8080');
  });

  it('names each wrong variable, all at once', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      FITROOM_RATE_LIMIT: '0',
      STORAGE_DRIVER: 'ftp',
      REDIS_URL: 'http://nope',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'maybe',
      WEBHOOK_RETRY_SCHEDULE: '5s,soon',
    });
    expect(problems).toHaveLength(6);
    expect(problems.join('\n')).toMatch(/PORT must be an integer.*"eighty"/);
    expect(problems.join('\n')).toMatch(/FITROOM_RATE_LIMIT/);
    expect(problems.join('\n')).toMatch(/STORAGE_DRIVER must be one of fs, s3/);
    expect(problems.join('\n')).toMatch(/REDIS_URL must be a redis: or rediss: URL/);
    expect(problems.join('\n')).toMatch(/WEBHOOK_ALLOW_PRIVATE_NETWORKS must be true or false/);
    expect(problems.join('\n')).toMatch(/WEBHOOK_RETRY_SCHEDULE/);
  });

  it('retries an ambiguous create once by default; fail is the other choice, nothing else', () => {
    expect(loadConfig({}).fitroom.ambiguousCreates).toBe('retry');
    expect(loadConfig({ FITROOM_AMBIGUOUS_CREATES: 'fail' }).fitroom.ambiguousCreates).toBe('fail');
    expect(problemsOf({ FITROOM_AMBIGUOUS_CREATES: 'twice' }).join('\n')).toMatch(
      /FITROOM_AMBIGUOUS_CREATES must be one of retry, fail/,
    );
  });

  it('requires a bucket for s3 storage', () => {
    expect(problemsOf({ STORAGE_DRIVER: 's3' })).toEqual([
      'S3_BUCKET is required when STORAGE_DRIVER=s3',
    ]);
  });

  it('refuses malformed API_TOKENS without echoing the token', () => {
    const problems = problemsOf({
      API_TOKENS: 'acme:short,:no-tenant-token,bad id:long-enough-token',
    });
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).not.toMatch(/short|no-tenant-token|long-enough-token/);
  });

  it('refuses short secrets and duplicate tenants', () => {
    const problems = problemsOf({
      WEBHOOK_SECRET: 'short',
      ADMIN_TOKEN: 'x',
      API_TOKENS: 'acme:token-one-1,acme:token-two-2',
    });
    expect(problems).toHaveLength(3);
  });

  it('requires WEBHOOK_SECRET when API_TOKENS is set, naming it', () => {
    const problems = problemsOf({ API_TOKENS: 'acme:acme-token-1' });
    expect(problems).toEqual([
      expect.stringMatching(/^WEBHOOK_SECRET is required when API_TOKENS/),
    ]);
    expect(
      problemsOf({ API_TOKENS: 'acme:acme-token-1', WEBHOOK_SECRET: 'long-enough-secret' }),
    ).toEqual([]);
    // Dev mode (no tenants) keeps its generated secret.
    expect(loadConfig({}).webhooks.secret).toBeNull();
  });

  it('limits each tenant to 600 API requests per minute by default; 0 turns the limit off', () => {
    expect(loadConfig({}).api).toMatchObject({ rateLimit: 600, rateWindowMs: 60_000 });
    const custom = loadConfig({ API_RATE_LIMIT: '20', API_RATE_WINDOW_MS: '1000' });
    expect(custom.api).toMatchObject({ rateLimit: 20, rateWindowMs: 1_000 });
    expect(describeConfig(custom).apiRateLimit).toBe('20 per 1000 ms per tenant');
    const off = loadConfig({ API_RATE_LIMIT: '0' });
    expect(off.api.rateLimit).toBe(0);
    expect(describeConfig(off).apiRateLimit).toBe('off');
    const problems = problemsOf({ API_RATE_LIMIT: '-1', API_RATE_WINDOW_MS: '1.5' });
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toMatch(/API_RATE_LIMIT must be an integer from 0 to .*"-1"/);
    expect(problems.join('\n')).toMatch(
      /API_RATE_WINDOW_MS must be an integer from 100 to .*"1.5"/,
    );
    expect(problemsOf({ API_RATE_LIMIT: 'lots' })).toHaveLength(1);
    expect(problemsOf({ API_RATE_WINDOW_MS: '99' })).toHaveLength(1);
  });

  it('reads PUBLIC_URL (set or not), TRUST_PROXY and CORS_ORIGINS', () => {
    expect(loadConfig({})).toMatchObject({
      publicUrlIsSet: false,
      http: { trustProxy: false, corsOrigins: [] },
    });
    const config = loadConfig({
      PUBLIC_URL: 'https://tryon.example.com/',
      TRUST_PROXY: 'true',
      CORS_ORIGINS: 'https://shop.example, http://localhost:5173',
    });
    expect(config).toMatchObject({
      publicUrl: 'https://tryon.example.com',
      publicUrlIsSet: true,
      http: { trustProxy: true, corsOrigins: ['https://shop.example', 'http://localhost:5173'] },
    });
    expect(loadConfig({ CORS_ORIGINS: '*' }).http.corsOrigins).toEqual(['*']);
    expect(problemsOf({ CORS_ORIGINS: 'shop.example,https://a.example/path' })).toEqual([
      'CORS_ORIGINS entries must be * or origins like https://app.example.com (got "shop.example")',
      'CORS_ORIGINS entries must be * or origins like https://app.example.com (got "https://a.example/path")',
    ]);
  });

  it('describes itself without secrets or URL credentials', () => {
    const config = loadConfig({
      REDIS_URL: 'redis://user:redis-pass@cache:6379',
      FITROOM_API_KEYS: 'fitroom-secret-key',
      API_TOKENS: 'acme:acme-secret-token',
      ADMIN_TOKEN: 'admin-secret-token',
      WEBHOOK_SECRET: 'webhook-master-secret',
      STORAGE_DRIVER: 's3',
      S3_BUCKET: 'results',
      AWS_ACCESS_KEY_ID: 'access-key-id',
      AWS_SECRET_ACCESS_KEY: 's3-secret-access-key',
    });
    const text = JSON.stringify(describeConfig(config));
    for (const secret of [
      's3-secret-access-key',
      'redis-pass',
      'fitroom-secret-key',
      'acme-secret-token',
      'admin-secret-token',
      'webhook-master-secret',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('acme');
  });

  it('reads crash recovery, retry backoff, sweep and retention settings', () => {
    expect(loadConfig({}).worker).toMatchObject({
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      maxStalledCount: 3,
      retryBackoffMs: 2_000,
      sweepIntervalMs: 60_000,
      createsInFlight: 1,
    });
    expect(loadConfig({}).retentionDays).toBe(30);
    const fast = loadConfig({
      WORKER_LOCK_DURATION_MS: '4000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      WORKER_MAX_STALLED_COUNT: '10',
      TRYON_RETRY_BACKOFF_MS: '50',
      WORKER_SWEEP_INTERVAL_MS: '500',
      WORKER_CREATES_IN_FLIGHT: '4',
      RETENTION_DAYS: '7',
    });
    expect(fast.worker).toMatchObject({
      lockDurationMs: 4_000,
      stalledIntervalMs: 1_000,
      maxStalledCount: 10,
      retryBackoffMs: 50,
      sweepIntervalMs: 500,
      createsInFlight: 4,
    });
    expect(fast.retentionDays).toBe(7);
    const problems = problemsOf({
      WORKER_LOCK_DURATION_MS: '10',
      WORKER_STALLED_INTERVAL_MS: 'often',
      WORKER_MAX_STALLED_COUNT: '-1',
      TRYON_RETRY_BACKOFF_MS: '0',
      WORKER_SWEEP_INTERVAL_MS: '1.5',
      WORKER_CREATES_IN_FLIGHT: '0',
      RETENTION_DAYS: '0',
    });
    expect(problems).toHaveLength(7);
    expect(problems.join('\n')).toMatch(/RETENTION_DAYS must be an integer from 1 to 3650/);
    expect(problems.join('\n')).toMatch(/WORKER_LOCK_DURATION_MS must be an integer from 1000/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['5s', 5_000],
    ['1.5m', 90_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['5', null],
    ['s', null],
    ['-1s', null],
  ])('%s -> %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
});
