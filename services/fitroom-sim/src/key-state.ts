import type { SimKeyStats } from './options.js';
import { RateWindow } from './rate-window.js';

/** What the simulator knows about one API key. */
export class KeyState {
  readonly window = new RateWindow();
  readonly requests: Record<string, Record<string, number>> = {};
  total = 0;
  http429 = 0;
  creates = 0;
  /** Tasks made (credits charged), whatever became of the create's answer. */
  tasksCreated = 0;
  polls = 0;

  constructor(public credits: number) {}

  stats(): SimKeyStats {
    return {
      requests: structuredClone(this.requests),
      total: this.total,
      http_429: this.http429,
      creates: this.creates,
      tasks_created: this.tasksCreated,
      polls: this.polls,
      credits_left: this.credits,
      max_in_window: this.window.maxInWindow,
    };
  }
}
