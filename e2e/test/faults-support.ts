import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { makeImage } from '@tryon/testing';

/** A redis-server the test controls: one port and one directory across stops and starts. */
export interface RedisServer {
  url: string;
  start(): Promise<void>;
  /** SIGTERM: Redis shuts down as on SHUTDOWN, writing its append-only file. */
  shutdown(): Promise<void>;
}

export function redisServer(options: { port: number; directory: string }): RedisServer {
  const url = `redis://127.0.0.1:${options.port}`;
  let child: ChildProcess | null = null;
  const answers = async () => {
    const client = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => {}); // refused while it boots
    try {
      await client.connect();
      // Loading the append-only file answers LOADING until done.
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  };
  return {
    url,
    async start() {
      if (child) throw new Error('redis-server is already running');
      child = spawn(
        'redis-server',
        [
          '--bind',
          '127.0.0.1',
          '--port',
          String(options.port),
          '--dir',
          options.directory,
          '--appendonly',
          'yes',
          '--save',
          '',
          '--maxmemory-policy',
          'noeviction',
        ],
        { stdio: 'ignore' },
      );
      for (let i = 0; i < 200; i++) {
        if (await answers()) return;
        if (child.exitCode !== null) break;
        await sleep(50);
      }
      throw new Error(`redis-server did not start on ${url}`);
    },
    async shutdown() {
      const running = child;
      child = null;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGTERM');
      await exited;
    },
  };
}

/** JSON requests to a running API with a tenant's (or the admin's) bearer token. */
export function apiClient(baseUrl: string, token: string) {
  async function call<T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: T }> {
    const response = await request(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.body.text();
    return { status: response.statusCode, json: (text ? JSON.parse(text) : null) as T };
  }

  /** Uploads `count` distinct small images; answers their asset ids. */
  async function uploadImages(count: number, label: number): Promise<string[]> {
    const form = new FormData();
    for (let i = 0; i < count; i++) {
      const bytes = await makeImage({
        width: 300 + i,
        height: 400,
        color: { r: (label * 40) % 256, g: (i * 30) % 256, b: 120 },
      });
      form.append(
        'file',
        new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }),
        `img-${i}.jpg`,
      );
    }
    const response = await fetch(`${baseUrl}/v1/assets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    const json = (await response.json()) as { assets: { id: string }[] };
    if (response.status >= 300) throw new Error(`upload answered ${response.status}`);
    return json.assets.map((a) => a.id);
  }

  return { call, uploadImages };
}

export interface BatchView {
  id: string;
  status: string;
  counts: {
    total: number;
    queued: number;
    running: number;
    completed: number;
    failed: number;
    cancelled: number;
  };
}

export interface ItemView {
  id: string;
  status: string;
  error: { code: string; message: string } | null;
  result: { key: string } | null;
  attempts: number;
}

/** Every item of a batch, page by page. */
export async function allItems(
  api: ReturnType<typeof apiClient>,
  batchId: string,
): Promise<ItemView[]> {
  const items: ItemView[] = [];
  let cursor: string | null = null;
  do {
    const page: { json: { items: ItemView[]; next_cursor: string | null } } = await api.call(
      'GET',
      `/v1/batches/${batchId}/items?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
    );
    items.push(...page.json.items);
    cursor = page.json.next_cursor;
  } while (cursor);
  return items;
}
