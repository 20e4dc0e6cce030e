#!/usr/bin/env node
// The `tryon` command: runs src/main.ts through tsx (as `node --import tsx` would), no build step.
import process from 'node:process';
import { register } from 'tsx/esm/api';

// Run as the workspace's `pnpm tryon` script, relative paths are the caller's, not the root's.
if (process.env.npm_lifecycle_event === 'tryon' && process.env.INIT_CWD) {
  process.chdir(process.env.INIT_CWD);
}
register();
await import('../src/main.ts');
