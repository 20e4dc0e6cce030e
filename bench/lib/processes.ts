/**
 * Service processes for the benchmarks: each entry point runs as its own OS process exactly as
 * `pnpm start:*` runs it (node --import tsx <main.ts>), or with `--built` as production runs it
 * (node out/<service>/dist/main.js, see scripts/prod-tree.sh), configured only by its environment.
 * Output goes to a log file (never held whole in memory) and a short tail kept for errors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { UsageError } from './args.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const SERVICE_DIRS = { api: 'api', worker: 'worker', sim: 'fitroom-sim' } as const;

export type ServiceKind = keyof typeof SERVICE_DIRS;

const bundleOf = (kind: ServiceKind): string => `out/${SERVICE_DIRS[kind]}/dist/main.js`;

/** node's arguments for a service: its sources through tsx, or its production tree's bundle. */
function serviceCommand(kind: ServiceKind, built: boolean): string[] {
  return built
    ? [bundleOf(kind)]
    : ['--import', 'tsx', `services/${SERVICE_DIRS[kind]}/src/main.ts`];
}

/** For --built: every service's production tree is there, or a UsageError says how to make it. */
export function assertBuilt(): void {
  for (const kind of Object.keys(SERVICE_DIRS) as ServiceKind[]) {
    if (!existsSync(join(ROOT, bundleOf(kind)))) {
      throw new UsageError(
        `--built: no ${bundleOf(kind)}; run pnpm build && scripts/prod-tree.sh first`,
      );
    }
  }
}

const TAIL_BYTES = 16 * 1024;

/** Every child this process started, so an exit of any kind can still kill them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

export class ServiceProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private tail = '';
  private readonly log: WriteStream;
  private readonly waiters: { marker: string; resolve: () => void }[] = [];
  /** Set once we asked it to stop, so its exit is not reported as a crash. */
  stopping = false;

  constructor(
    readonly name: string,
    command: string[],
    env: Record<string, string>,
    readonly logFile: string,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
    this.child = spawn(process.execPath, command, {
      cwd: ROOT,
      env: { ...cleanParentEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this.child);
    const onData = (chunk: Buffer): void => {
      this.log.write(chunk);
      this.tail = (this.tail + chunk.toString()).slice(-TAIL_BYTES);
      for (const waiter of [...this.waiters]) {
        if (this.tail.includes(waiter.marker)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this.child);
        resolve({ code, signal });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last few KiB it wrote. */
  output(): string {
    return this.tail;
  }

  /** Resolves when `marker` appears in its output; false on timeout or exit. */
  async waitForOutput(marker: string, timeoutMs: number): Promise<boolean> {
    if (this.tail.includes(marker)) return true;
    let resolveWaiter!: () => void;
    const seen = new Promise<void>((resolve) => (resolveWaiter = resolve));
    const waiter = { marker, resolve: resolveWaiter };
    this.waiters.push(waiter);
    const timer = sleep(timeoutMs, 'timeout' as const);
    const result = await Promise.race([
      seen.then(() => 'seen' as const),
      this.exited.then(() => 'exited' as const),
      timer,
    ]);
    const index = this.waiters.indexOf(waiter);
    if (index >= 0) this.waiters.splice(index, 1);
    return result === 'seen';
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.running) {
      this.child.kill('SIGTERM');
      const outcome = await Promise.race([
        this.exited.then(() => 'exited' as const),
        sleep(graceMs, 'late' as const),
      ]);
      if (outcome === 'late' && this.running) this.child.kill('SIGKILL');
      await this.exited;
    }
    await new Promise<void>((resolve) => this.log.end(resolve));
  }
}

/**
 * The parent's environment minus the service variables a developer's shell may hold, so each
 * process sees only what the benchmark sets (PATH, HOME and the like stay).
 */
function cleanParentEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  const serviceVar =
    /^(REDIS_URL|HOST|PORT|PUBLIC_URL|FITROOM_.*|STORAGE_DRIVER|S3_.*|DATA_DIR|API_TOKENS|ADMIN_TOKEN|WEBHOOK_.*|WORKER_.*|IMAGE_.*|UPLOAD_.*|MAX_BATCH_ITEMS|QUEUE_PREFIX|LOG_LEVEL|RESULT_URL_TTL_S|SIM_.*|AWS_.*)$/;
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !serviceVar.test(name)) env[name] = value;
  }
  return env;
}

export function startService(
  name: string,
  kind: ServiceKind,
  env: Record<string, string>,
  launch: { built: boolean; logDir: string },
): ServiceProcess {
  const command = serviceCommand(kind, launch.built);
  return new ServiceProcess(name, command, env, join(launch.logDir, `${name}.log`));
}

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

/** Resident set size of a process in bytes, from /proc/<pid>/status (VmRSS); undefined if gone. */
export async function rssBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples the RSS of some processes every `intervalMs` and keeps each one's peak. */
export class RssSampler {
  private readonly peaks = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();
  samples = 0;

  constructor(
    private readonly processes: () => ServiceProcess[],
    private readonly intervalMs = 500,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.sampling = this.sample();
    }, this.intervalMs);
    this.timer.unref();
    this.sampling = this.sample();
  }

  private async sample(): Promise<void> {
    this.samples++;
    await Promise.all(
      this.processes().map(async (p) => {
        if (p.pid === undefined || !p.running) return;
        const rss = await rssBytes(p.pid);
        if (rss !== undefined) this.peaks.set(p.name, Math.max(this.peaks.get(p.name) ?? 0, rss));
      }),
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sampling;
  }

  /** Peak RSS in MB (2^20 bytes) by process name. */
  peaksMb(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, bytes] of this.peaks) out[name] = Math.round((bytes / 2 ** 20) * 10) / 10;
    return out;
  }
}
