/**
 * Output: progress lines on stderr, the human summary on stdout, and the JSON line(s) last on
 * stdout. With --json only the JSON lines (and errors) are printed.
 */
import type { JsonRecord } from './stats.js';

export class Reporter {
  private readonly started = Date.now();

  constructor(readonly quiet: boolean) {}

  /** A progress line on stderr, stamped with the seconds since the benchmark started. */
  progress = (line: string): void => {
    if (this.quiet) return;
    const t = ((Date.now() - this.started) / 1000).toFixed(1).padStart(6);
    process.stderr.write(`[${t}s] ${line}\n`);
  };

  /** The human summary: a title and aligned "name  value" rows. */
  summary(title: string, rows: [string, string | number | null | undefined][]): void {
    if (this.quiet) return;
    const width = Math.max(...rows.map(([name]) => name.length));
    const lines = [
      ``,
      title,
      ...rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value ?? 'n/a'}`),
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }

  json(record: JsonRecord): void {
    process.stdout.write(`${JSON.stringify(record)}\n`);
  }
}

/** "28.7 (0.957 of 30)" style helpers for the summaries. */
export const fmt = {
  n: (v: number | null | undefined, digits = 2): string =>
    v === null || v === undefined ? 'n/a' : v.toFixed(digits),
  target: (ok: boolean | null): string =>
    ok === null ? '' : ok ? '  [target met]' : '  [target MISSED]',
};
