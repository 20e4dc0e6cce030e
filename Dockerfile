# syntax=docker/dockerfile:1
# One target per service (api, worker, fitroom-sim); docker-compose.yml builds each. The build
# stage runs exactly what CI's production smoke runs (pnpm build, scripts/prod-tree.sh), so the
# tree each image holds is the one CI starts with plain node.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

FROM ${NODE_IMAGE} AS build
RUN npm install -g pnpm@10.34.9
WORKDIR /src
COPY . .
RUN pnpm install --frozen-lockfile \
  && pnpm build \
  && scripts/prod-tree.sh api worker fitroom-sim

# Only a service's production tree: dist/ (bundled JavaScript), package.json, production
# node_modules. tini forwards signals so node shuts down gracefully; the image runs as `node`.
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
USER node
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]

FROM runtime AS fitroom-sim
COPY --from=build --chown=node:node /src/out/fitroom-sim /app
ENV SIM_HOST=0.0.0.0 SIM_PORT=3001
EXPOSE 3001
# The simulator has no health route: any HTTP answer means it is up.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:3001/').then(() => process.exit(0), () => process.exit(1))"]

FROM runtime AS worker
COPY --from=build --chown=node:node /src/out/worker /app
ENV WORKER_HTTP_HOST=0.0.0.0 WORKER_HTTP_PORT=3002
EXPOSE 3002
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:3002/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# Last, so that a plain `docker build .` gives the api.
FROM runtime AS api
COPY --from=build --chown=node:node /src/out/api /app
ENV HOST=0.0.0.0 PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:3000/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
