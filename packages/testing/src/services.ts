import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

/** Connection details of the S3-protocol server the tests use. */
export interface TestS3 {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  /** 'when_required' for servers (s3rver) that mishandle the SDK's default checksums. */
  checksum: 'when_supported' | 'when_required';
}

export interface StartedService<T> {
  value: T;
  /** Where it came from, for the one line the setup prints. */
  source: string;
  stop(): Promise<void>;
}

const NO_RUNTIME_HELP =
  'Tests need Redis: set REDIS_URL, or run a Docker engine (testcontainers), or put redis-server on PATH ' +
  '(apt-get install -y redis-server).';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not find a free port'));
      });
    });
  });
}

/** True when testcontainers finds a container runtime; fails fast (milliseconds) when none. */
async function containerRuntimeAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function waitForRedis(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => {}); // refused connections while it boots are expected
    try {
      await client.connect();
      await client.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    } finally {
      client.disconnect();
    }
  }
}

function onPath(binary: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = spawn(binary, ['--version'], { stdio: 'ignore' });
    probe.on('error', () => resolve(false));
    probe.on('exit', (code) => resolve(code === 0));
  });
}

/** REDIS_URL when set, else a testcontainers Redis, else a redis-server child on a free port. */
export async function startRedis(
  env: NodeJS.ProcessEnv = process.env,
): Promise<StartedService<string>> {
  if (env.REDIS_URL) {
    return { value: env.REDIS_URL, source: 'REDIS_URL', stop: async () => {} };
  }
  if (await containerRuntimeAvailable()) {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7-alpine').start();
    return {
      value: container.getConnectionUrl(),
      source: 'testcontainers redis:7-alpine',
      stop: async () => {
        await container.stop();
      },
    };
  }
  if (await onPath('redis-server')) {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'redis-'));
    const child: ChildProcess = spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    const url = `redis://127.0.0.1:${port}`;
    await waitForRedis(url, 10_000);
    return {
      value: url,
      source: `redis-server on port ${port}`,
      stop: async () => {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  throw new Error(NO_RUNTIME_HELP);
}

/** S3_ENDPOINT when set, else a MinIO container when Docker answers, else s3rver in this process. */
export async function startS3(
  env: NodeJS.ProcessEnv = process.env,
): Promise<StartedService<TestS3>> {
  if (env.S3_ENDPOINT) {
    return {
      value: {
        endpoint: env.S3_ENDPOINT,
        region: env.S3_REGION ?? 'us-east-1',
        accessKeyId: env.AWS_ACCESS_KEY_ID ?? 'S3RVER',
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? 'S3RVER',
        forcePathStyle: env.S3_FORCE_PATH_STYLE !== 'false',
        checksum: env.S3_CHECKSUM === 'when_supported' ? 'when_supported' : 'when_required',
      },
      source: 'S3_ENDPOINT',
      stop: async () => {},
    };
  }
  if (await containerRuntimeAvailable()) {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer('minio/minio:latest')
      .withCommand(['server', '/data'])
      .withEnvironment({ MINIO_ROOT_USER: 'minioadmin', MINIO_ROOT_PASSWORD: 'minioadmin' })
      .withExposedPorts(9000)
      .withWaitStrategy(Wait.forHttp('/minio/health/live', 9000))
      .start();
    return {
      value: {
        endpoint: `http://${container.getHost()}:${container.getMappedPort(9000)}`,
        region: 'us-east-1',
        accessKeyId: 'minioadmin',
        secretAccessKey: 'minioadmin',
        forcePathStyle: true,
        checksum: 'when_supported',
      },
      source: 'testcontainers minio',
      stop: async () => {
        await container.stop();
      },
    };
  }
  const { default: S3rver } = await import('s3rver');
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true });
  const address = await server.run();
  return {
    value: {
      endpoint: `http://127.0.0.1:${address.port}`,
      region: 'us-east-1',
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      forcePathStyle: true,
      checksum: 'when_required',
    },
    source: `s3rver on port ${address.port}`,
    stop: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
