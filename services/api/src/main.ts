import closeWithGrace from 'close-with-grace';
import { ConfigError, loadConfig, portInUseMessage, type Config } from '@tryon/config';
import { startApi } from './start.js';

/** `pnpm start:api`: the API process, configured only by the environment. */
let config: Config;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

const api = await startApi(config).catch((error: unknown) => {
  const portInUse = portInUseMessage(error, 'PORT');
  if (!portInUse) throw error;
  console.error(portInUse);
  process.exit(1);
});

closeWithGrace({ delay: 10_000, logger: api.app.log }, async ({ signal, err }) => {
  if (err) api.app.log.error({ err }, 'closing after an unexpected error');
  else api.app.log.info({ signal }, 'shutting down');
  await api.close();
});
