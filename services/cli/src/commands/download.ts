import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { downloadBatch } from '../download.js';
import { EXIT } from '../errors.js';
import { isFinished } from '../feed.js';
import { displayPath, note, printJson, say, type Context } from '../output.js';
import { plural } from '../wording.js';

export async function download(
  ctx: Context,
  batchId: string,
  options: { out: string; concurrency: number },
): Promise<number> {
  const batch = await ctx.client.getBatch(batchId);
  const out = resolve(options.out);
  const bar =
    !ctx.json && process.stderr.isTTY
      ? new cliProgress.SingleBar(
          { format: 'Downloading {bar} {value}/{total} images', hideCursor: true, barsize: 24 },
          cliProgress.Presets.shades_classic,
        )
      : null;
  let started = false;
  let report;
  try {
    report = await downloadBatch(ctx.client, batch.id, out, {
      concurrency: options.concurrency,
      onProgress: (done, total) => {
        if (!bar || total === 0) return;
        if (!started) bar.start(total, done);
        else bar.update(done);
        started = true;
      },
    });
  } finally {
    if (started) bar?.stop();
  }
  if (ctx.json) printJson({ batch_id: batch.id, status: batch.status, ...report });
  const shown = displayPath(report.manifest);
  say(ctx, shown);
  note(
    ctx,
    `${plural(report.downloaded, 'image')} downloaded, ${report.skipped} already there` +
      (report.missing > 0 ? `, ${plural(report.missing, 'item')} without a result` : '') +
      `; manifest: ${shown}`,
  );
  if (report.missing > 0 && !isFinished(batch)) {
    note(ctx, `The batch is still ${batch.status}: run the download again when it has finished.`);
  }
  return report.missing > 0 ? EXIT.itemsFailed : EXIT.ok;
}
