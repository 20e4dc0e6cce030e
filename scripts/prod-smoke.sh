#!/usr/bin/env bash
# Production smoke: builds, makes the production tree (scripts/prod-tree.sh, as the image does),
# starts the simulator, api and worker from it with plain `node`, submits a two-item batch, waits
# for it to complete, reads /metrics from api and worker, and stops everything. Run by .ci/run;
# needs REDIS_URL. Logs: .tmp/smoke/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
logs=.tmp/smoke
rm -rf "$logs" && mkdir -p "$logs/data"
: "${REDIS_URL:?REDIS_URL must point at a Redis}"

free_port() {
  node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}
json() { node -e "let t='';process.stdin.on('data',d=>t+=d).on('end',()=>{const v=JSON.parse(t);console.log($1)})"; }

pnpm build
scripts/prod-tree.sh

pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
fail() { echo "smoke: $*" >&2; tail -n 20 "$logs"/*.log >&2; exit 1; }
# wait_http URL [-f]: until URL answers (with -f: answers 2xx).
wait_http() {
  for _ in $(seq 150); do curl -s ${2:-} -o /dev/null "$1" && return 0; sleep 0.2; done
  fail "$1 did not answer"
}

sim_port=$(free_port) api_port=$(free_port) worker_port=$(free_port)
# Production runs with NODE_ENV=production and nothing but what out/<service> holds.
(cd out/fitroom-sim && NODE_ENV=production SIM_PORT=$sim_port SIM_KEYS=smoke-key:1000 \
  SIM_TIME_SCALE=20 exec node dist/main.js) >"$logs/sim.log" 2>&1 &
pids+=($!)
common=(NODE_ENV=production "REDIS_URL=$REDIS_URL" "QUEUE_PREFIX=smoke-$$-$RANDOM"
  "FITROOM_BASE_URL=http://127.0.0.1:$sim_port" FITROOM_API_KEYS=smoke-key
  FITROOM_RATE_WINDOW_MS=3000 FITROOM_NORMAL_TASK_MS=450 FITROOM_POLL_INTERVAL_MS=100
  STORAGE_DRIVER=fs "DATA_DIR=$(pwd)/$logs/data" HOST=127.0.0.1 "PORT=$api_port"
  "PUBLIC_URL=http://127.0.0.1:$api_port" WEBHOOK_SECRET=smoke-webhook-secret-0123456789
  LOG_LEVEL=info)
(cd out/api && exec env "${common[@]}" node dist/main.js) >"$logs/api.log" 2>&1 &
pids+=($!)
(cd out/worker && exec env "${common[@]}" "WORKER_HTTP_PORT=$worker_port" node dist/main.js) \
  >"$logs/worker.log" 2>&1 &
pids+=($!)
api=http://127.0.0.1:$api_port worker=http://127.0.0.1:$worker_port
wait_http "http://127.0.0.1:$sim_port/"
wait_http "$api/healthz" -f
wait_http "$worker/readyz" -f
echo "smoke: sim, api and worker answer (node $(node --version), production trees)"

ids=$(curl -sf -F file=@examples/model.jpg -F file=@examples/shirt.jpg "$api/v1/assets" |
  json "(v.assets ?? v.data ?? v).map(a => a.id).join(' ')") || fail "upload failed"
read -r model shirt <<<"$ids"
body="{\"items\":[{\"model\":\"$model\",\"cloth\":\"$shirt\",\"cloth_type\":\"upper\"},{\"model\":\"$model\",\"cloth\":\"$shirt\",\"cloth_type\":\"upper\",\"hd_mode\":true}]}"
batch=$(curl -sf -X POST "$api/v1/batches" -H 'content-type: application/json' -d "$body" |
  json 'v.id') || fail "batch submission failed"
echo "smoke: batch $batch submitted"
status=
for _ in $(seq 300); do
  status=$(curl -sf "$api/v1/batches/$batch" | json 'v.status') || status=
  [ "$status" = completed ] && break
  case "$status" in failed | cancelled | partially_completed) fail "batch ended $status" ;; esac
  sleep 0.2
done
[ "$status" = completed ] || fail "batch $batch did not complete (status: ${status:-unknown})"
echo "smoke: batch $batch completed"

curl -sf "$api/metrics" >"$logs/api-metrics.txt" || fail "api /metrics failed"
curl -sf "$worker/metrics" >"$logs/worker-metrics.txt" || fail "worker /metrics failed"
grep -q '^tryon_batches_submitted_total 1$' "$logs/api-metrics.txt" || fail "api metrics miss the batch"
grep -Eq '^tryon_worker_budget_limit\{key="[^"]+"\} 60$' "$logs/worker-metrics.txt" ||
  fail "worker metrics miss the budget"
grep -q '^nodejs_eventloop_lag_seconds ' "$logs/worker-metrics.txt" || fail "worker metrics miss the event-loop lag"
echo "smoke: /metrics read from api ($(grep -vc '^#' "$logs/api-metrics.txt") samples) and worker ($(grep -vc '^#' "$logs/worker-metrics.txt") samples)"
stop_all
trap - EXIT
echo "smoke: passed"
