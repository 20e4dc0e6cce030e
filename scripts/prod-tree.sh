#!/usr/bin/env bash
# Production tree: out/<service>/ holds dist/ (from `pnpm build`), package.json and a flat
# node_modules with production dependencies only; start it with `node out/<service>/dist/main.js`.
# The Dockerfile runs exactly this script, so CI's production smoke proves the image's contents.
# Usage: scripts/prod-tree.sh [service...]   (default: api worker fitroom-sim)
set -euo pipefail
cd "$(dirname "$0")/.."
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(api worker fitroom-sim)

for service in "${services[@]}"; do
  [ -f "services/$service/dist/main.js" ] || { echo "prod-tree: run pnpm build first" >&2; exit 1; }
  out="out/$service"
  rm -rf "$out"
  # Hoisted: the bundle's external imports include the inlined @tryon/* packages' own
  # dependencies, which must resolve from the top of node_modules.
  pnpm --filter "@tryon/$service" deploy --prod --legacy --config.node-linker=hoisted \
    --reporter=silent "$out"
  # Sources and tests are not run; @tryon/* is inlined in the bundle; typescript arrives only
  # as an optional peer of build-time tooling and is never imported at run time.
  rm -rf "$out/src" "$out/test" "$out/README.md" "$out/node_modules/@tryon" \
    "$out/node_modules/typescript" "$out/node_modules/tsx" "$out/node_modules/.bin/tsc" \
    "$out/node_modules/.bin/tsserver"
  for forbidden in tsx typescript esbuild vitest; do
    if [ -e "$out/node_modules/$forbidden" ]; then
      echo "prod-tree: $out/node_modules/$forbidden must not be in a production tree" >&2
      exit 1
    fi
  done
  echo "prod-tree: $out ($(du -sh "$out/node_modules" | cut -f1) node_modules)"
done
