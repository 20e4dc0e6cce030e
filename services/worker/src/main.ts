import closeWithGrace from 'close-with-grace';
import { ConfigError, describeConfig, loadConfig } from '@tryon/config';
import { startWorkerHttpServer } from './http-server.js';
import { startWorker } from './worker.js';

// `pnpm start:worker` or `node services/worker/dist/main.js`: one worker process, configured
// only by the environment, with /healthz, /readyz and /metrics on WORKER_HTTP_HOST:PORT.
try {
  const config = loadConfig(process.env);
  const worker = await startWorker(config);
  worker.logger.info({ config: describeConfig(config) }, 'configuration');
  const http = await startWorkerHttpServer(worker.probes, {
    host: config.worker.httpHost,
    port: config.worker.httpPort,
  });
  worker.logger.info({ url: http.url }, 'worker http server listening');
  closeWithGrace({ delay: 30_000 }, async ({ err, signal }) => {
    if (err) worker.logger.error({ err }, 'closing after an unexpected error');
    else worker.logger.info({ signal }, 'closing');
    // Health turns failing as soon as closing starts; the server stops last.
    await worker.close();
    await http.close();
  });
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
