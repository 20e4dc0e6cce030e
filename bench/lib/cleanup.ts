/**
 * Cleanups that must run however a benchmark ends: normal end, error, SIGINT or SIGTERM.
 * They run newest first, each at most once, and the whole set is bounded in time.
 */
import { setTimeout as sleep } from 'node:timers/promises';

type Cleanup = () => Promise<void>;

const cleanups: Cleanup[] = [];
let running: Promise<void> | undefined;

/** Registers a cleanup; the returned function runs it now (once) and unregisters it. */
export function onCleanup(cleanup: Cleanup): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once: Cleanup = () => (done ??= cleanup());
  cleanups.push(once);
  return async () => {
    const index = cleanups.indexOf(once);
    if (index >= 0) cleanups.splice(index, 1);
    await once();
  };
}

/** Runs every registered cleanup, newest first; gives up after `timeoutMs`. */
export function runCleanups(timeoutMs = 60_000): Promise<void> {
  running ??= (async () => {
    const all = async (): Promise<void> => {
      while (cleanups.length > 0) {
        const cleanup = cleanups.pop() as Cleanup;
        try {
          await cleanup();
        } catch (error) {
          console.error('bench: cleanup failed:', error);
        }
      }
    };
    await Promise.race([all(), sleep(timeoutMs, undefined, { ref: false })]);
  })().finally(() => {
    running = undefined;
  });
  return running;
}

let signalled = false;

/** True once SIGINT or SIGTERM arrived: errors that follow are the services going away. */
export function interrupted(): boolean {
  return signalled;
}

/** On SIGINT or SIGTERM: clean up, then exit 130 / 143. A second signal exits at once. */
export function cleanUpOnSignals(): void {
  const handler = (signal: NodeJS.Signals): void => {
    if (signalled) process.exit(1);
    signalled = true;
    console.error(`bench: ${signal}, stopping the services and cleaning up...`);
    void runCleanups(30_000).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
