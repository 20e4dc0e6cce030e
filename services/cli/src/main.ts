import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { ClothType } from '@tryon/domain';
import { TryonClient } from './api.js';
import { cancel, retry, status, watch } from './commands/batch.js';
import { download } from './commands/download.js';
import { CLOTH_TYPES } from './inputs.js';
import { BATCH_NAME_MAX } from './names.js';
import { submit, type SubmitOptions } from './commands/submit.js';
import { asCliError, EXIT, EXIT_CODES_HELP, usageError } from './errors.js';
import { printJson, type Context } from './output.js';

/**
 * `tryon`: the try-on batch service from a terminal. Run by bin/tryon.js (through tsx);
 * every command talks to the API only (TRYON_URL, TRYON_TOKEN or --url, --token).
 */

export const DEFAULT_URL = 'http://127.0.0.1:3000';

interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

const version = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

function batchName(value: string): string {
  const name = value.trim();
  if (name.length === 0 || name.length > BATCH_NAME_MAX) {
    throw new InvalidArgumentError(`expected 1 to ${BATCH_NAME_MAX} characters`);
  }
  return name;
}

function makeContext(options: GlobalOptions): Context {
  const url = options.url ?? process.env.TRYON_URL?.trim() ?? DEFAULT_URL;
  let parsed: URL;
  try {
    parsed = new URL(url || DEFAULT_URL);
  } catch {
    throw usageError(`the API URL "${url}" is not a URL (TRYON_URL or --url)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw usageError(`the API URL "${url}" is not http or https (TRYON_URL or --url)`);
  }
  const token = options.token ?? (process.env.TRYON_TOKEN?.trim() || undefined);
  return {
    client: new TryonClient({ baseUrl: parsed.href, token }),
    token,
    json: options.json ?? false,
  };
}

type Run = (options: GlobalOptions, runner: Runner) => Promise<void>;

export function buildProgram(run: Run): Command {
  const program = new Command('tryon')
    .description(
      'Submit folders of model photos and garments to the try-on batch service, watch the ' +
        'progress, download the results.',
    )
    .version(version)
    .option('--url <url>', `API base URL (env TRYON_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'API token (env TRYON_TOKEN)')
    .option('--json', 'print machine-readable JSON only (one document on stdout)')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP);
  addSubmitCommand(program, run);
  addBatchCommands(program, run);
  return program;
}

const concurrencyOption = () =>
  new Option('--concurrency <n>', 'requests at once').argParser(integer(1, 32)).default(4);

function addSubmitCommand(program: Command, run: Run): void {
  program
    .command('submit')
    .description(
      'Upload images (skipping those already uploaded) and submit one batch of every model ' +
        'with every garment; prints the batch id.',
    )
    .requiredOption(
      '--models <dir|csv>',
      'model photos: a directory, a CSV (path or url column) or a file',
    )
    .requiredOption('--garments <dir|csv>', 'garment images: a directory, a CSV or a file')
    .addOption(
      new Option('--type <type>', "garments' cloth type (a CSV's cloth_type column wins)")
        .choices(CLOTH_TYPES)
        .makeOptionMandatory(),
    )
    .option(
      '--lower <dir|csv>',
      'lower garments for --type combo: one for all, or one per garment in order',
    )
    .option('--hd', 'HD mode (slower, finer)')
    .option('--webhook <url>', "the batch's webhook_url")
    .option('--fresh', 'render every pair again, even those rendered before')
    .option(
      '--priority <n>',
      "0-10: higher runs earlier among this tenant's batches",
      integer(0, 10),
    )
    .option('--idempotency-key <key>', 'submitting again with the same key answers the same batch')
    .option(
      '--name <name>',
      'a name for the batch, up to 200 characters (default: the folders\' names, "models x shirts")',
      batchName,
    )
    .option('--wait', 'show a live progress bar until the batch has finished')
    .option(
      '--dry-run',
      'submit nothing: print the item count, the credits it would cost and its ETA ' +
        '(images not uploaded before are uploaded, so the API can check them)',
    )
    .addOption(concurrencyOption())
    .option('--no-cache', 'ignore the local cache of uploaded images')
    .addHelpText('after', EXIT_CODES_HELP)
    .action((options: Record<string, unknown>, command: Command) =>
      run(command.optsWithGlobals(), (ctx) => submit(ctx, submitOptions(options))),
    );
}

/** Commander's parsed flags as submit's options (their types are fixed by the flags above). */
function submitOptions(options: Record<string, unknown>): SubmitOptions {
  return {
    models: options.models as string,
    garments: options.garments as string,
    type: options.type as ClothType,
    lower: options.lower as string | undefined,
    hd: options.hd as boolean | undefined,
    webhook: options.webhook as string | undefined,
    fresh: options.fresh as boolean | undefined,
    priority: options.priority as number | undefined,
    idempotencyKey: options.idempotencyKey as string | undefined,
    name: options.name as string | undefined,
    wait: options.wait as boolean | undefined,
    dryRun: options.dryRun as boolean | undefined,
    concurrency: options.concurrency as number,
    cache: options.cache as boolean,
  };
}

/** The commands on one existing batch: status, watch, download, retry, cancel. */
function addBatchCommands(program: Command, run: Run): void {
  const batchCommand = (name: string, description: string) =>
    program
      .command(name)
      .description(description)
      .argument('<batch>', 'batch id (bat_...)')
      .addHelpText('after', EXIT_CODES_HELP);

  batchCommand('status', "A batch's status, counts by state and progress").action(
    (batch: string, _options: unknown, command: Command) =>
      run(command.optsWithGlobals(), (ctx) => status(ctx, batch)),
  );

  batchCommand('watch', 'A live progress bar until the batch has finished').action(
    (batch: string, _options: unknown, command: Command) =>
      run(command.optsWithGlobals(), (ctx) => watch(ctx, batch)),
  );

  batchCommand(
    'download',
    "Every completed item's image into DIR as <external_id>.<ext>, plus manifest.csv\n" +
      '(item_id, external_id, model_file, garment_file, status, file, error); files already ' +
      'there with the same size are skipped.',
  )
    .requiredOption('--out <dir>', 'where to write the images and manifest.csv')
    .addOption(concurrencyOption())
    .action((batch: string, options: { out: string; concurrency: number }, command: Command) =>
      run(command.optsWithGlobals(), (ctx) => download(ctx, batch, options)),
    );

  batchCommand('retry', "Queue the batch's failed items again")
    .option('--wait', 'then show the progress bar until the batch has finished')
    .action((batch: string, options: { wait?: boolean }, command: Command) =>
      run(command.optsWithGlobals(), (ctx) => retry(ctx, batch, options)),
    );

  batchCommand('cancel', 'Cancel the items that have not started (running ones finish)').action(
    (batch: string, _options: unknown, command: Command) =>
      run(command.optsWithGlobals(), (ctx) => cancel(ctx, batch)),
  );
}

type Runner = (ctx: Context) => Promise<number>;

/** Parses argv, runs the command and answers the exit code; never throws. */
export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  let exitCode: number = EXIT.ok;
  const program = buildProgram(async (options, runner) => {
    const ctx = makeContext(options);
    try {
      exitCode = await runner(ctx);
    } finally {
      await ctx.client.close().catch(() => undefined);
    }
  });
  program.exitOverride();
  if (json) {
    // In --json mode a usage error is printed as JSON below, not as commander's text.
    program.configureOutput({ writeErr: () => undefined, outputError: () => undefined });
  }
  for (const command of program.commands) {
    command.exitOverride();
    command.configureOutput(program.configureOutput());
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with 0; help shown for a missing command ends with 1: usage.
      if (error.exitCode === 0) return EXIT.ok;
      if (json) {
        printJson({
          error: {
            code: 'usage_error',
            message: error.message.replace(/^error: /, ''),
            exit_code: EXIT.usage,
          },
        });
      }
      return EXIT.usage;
    }
    const failure = asCliError(error);
    if (json) {
      printJson({
        error: { code: failure.code, message: failure.message, exit_code: failure.exitCode },
      });
    } else {
      process.stderr.write(`tryon: ${failure.message}\n`);
      if (process.env.TRYON_DEBUG && error instanceof Error) {
        process.stderr.write(`${error.stack}\n`);
      }
    }
    return failure.exitCode;
  }
}

process.exitCode = await main(process.argv.slice(2));
