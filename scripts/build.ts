/**
 * `pnpm build`: bundles each service's entry point into services/<name>/dist/main.js for
 * `node services/<name>/dist/main.js`. Workspace packages (@tryon/*) are inlined because they
 * export TypeScript sources; third-party packages stay external and come from the production
 * node_modules (scripts/prod-tree.sh). Folders the services read at run time are copied next to
 * the bundle, where `import.meta.url` makes them resolve.
 */
import { cp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;

interface ServiceBuild {
  name: string;
  /** Run-time folders: source path -> path under dist/ (relative to the service). */
  assets: Record<string, string>;
}

export const SERVICES: ServiceBuild[] = [
  // The dashboard's static files, resolved from the module via import.meta.url: in the bundle
  // that module is dist/main.js, so a `./public/` next to it lands in dist/public.
  { name: 'api', assets: { 'src/ui/public': 'public' } },
  { name: 'worker', assets: {} },
  { name: 'fitroom-sim', assets: {} },
];

/** Bare imports other than @tryon/* stay imports: they resolve in node_modules at run time. */
const thirdPartyExternal: Plugin = {
  name: 'third-party-external',
  setup(builder) {
    builder.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('@tryon/') ? undefined : { path: args.path, external: true },
    );
  },
};

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function buildService(service: ServiceBuild): Promise<void> {
  const dir = join(root, 'services', service.name);
  const dist = join(dir, 'dist');
  await rm(dist, { recursive: true, force: true });
  await build({
    entryPoints: [join(dir, 'src/main.ts')],
    outfile: join(dist, 'main.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    sourcemap: true,
    logLevel: 'warning',
    plugins: [thirdPartyExternal],
  });
  for (const [from, to] of Object.entries(service.assets)) {
    if (await exists(join(dir, from))) {
      await cp(join(dir, from), join(dist, to), { recursive: true });
    }
  }
  console.log(`built services/${service.name}/dist/main.js`);
}

const only = process.argv.slice(2);
for (const service of SERVICES) {
  if (only.length === 0 || only.includes(service.name)) await buildService(service);
}
