import closeWithGrace from 'close-with-grace';
import { ConfigError, describeConfig, loadConfig } from '@tryon/config';
import { startWorker } from './worker.js';

// `pnpm start:worker`: one worker process, configured only by the environment.
try {
  const config = loadConfig(process.env);
  const worker = await startWorker(config);
  worker.logger.info({ config: describeConfig(config) }, 'configuration');
  closeWithGrace({ delay: 30_000 }, async ({ err, signal }) => {
    if (err) worker.logger.error({ err }, 'closing after an unexpected error');
    else worker.logger.info({ signal }, 'closing');
    await worker.close();
  });
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
