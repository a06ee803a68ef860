#!/usr/bin/env bash
# The local Prefect stack in one command: server (UI) on 127.0.0.1, the genre-local process work pool, every
# deployment of prefect.yaml and a worker. Ctrl-C (or `scripts/stack.sh down` from another terminal) stops the
# worker, then the server. Logs and process ids live in $GENRE_HOME/stack (default .genre/stack).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PREFECT_PORT:-4200}
export PREFECT_API_URL="http://127.0.0.1:$PORT/api" PREFECT_SERVER_ANALYTICS_ENABLED=false
STATE="${GENRE_HOME:-.genre}/stack"
PREFECT=.venv/bin/prefect

stop_pid() {  # stop_pid NAME: SIGINT, then SIGTERM, then SIGKILL (15 s apart) to the group named by NAME.pid
  local file="$STATE/$1.pid" pid sig
  [[ -f $file ]] || return 0
  pid=$(<"$file")
  for sig in INT TERM KILL; do
    kill -0 "$pid" 2>/dev/null || break
    kill -"$sig" -- "-$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  done
  echo "stopped the $1 (pid $pid)"
  rm -f "$file"
}

down() {
  trap - INT TERM EXIT
  stop_pid worker  # the worker before the server: a worker whose server is gone ignores SIGTERM
  stop_pid server
}

if [[ ${1:-up} == down ]]; then down; exit 0; fi
if [[ -f $STATE/server.pid ]] && kill -0 "$(<"$STATE/server.pid")" 2>/dev/null; then
  echo "a stack is already running (pid $(<"$STATE/server.pid")): stop it with \`make stack-down\`" >&2; exit 1
fi
mkdir -p "$STATE"
trap down INT TERM EXIT
setsid "$PREFECT" server start --host 127.0.0.1 --port "$PORT" >"$STATE/server.log" 2>&1 &
echo $! >"$STATE/server.pid"
echo "Prefect server starting on http://127.0.0.1:$PORT (log: $STATE/server.log)"
.venv/bin/python - <<PY
import time, httpx
deadline = time.monotonic() + 120
while True:
    try:
        if httpx.get("$PREFECT_API_URL/health", timeout=2).status_code == 200:
            break
    except httpx.HTTPError:
        pass
    if time.monotonic() > deadline:
        raise SystemExit("the Prefect server did not answer in 120 s: see $STATE/server.log")
    time.sleep(0.5)
PY
"$PREFECT" work-pool create genre-local --type process --overwrite >/dev/null
"$PREFECT" --no-prompt deploy --all | grep -E "Deployment '|deployment run" || true
setsid "$PREFECT" worker start --pool genre-local >"$STATE/worker.log" 2>&1 &
echo $! >"$STATE/worker.pid"
cat <<MSG
Ready. UI: http://127.0.0.1:$PORT (Deployments: genre-pipeline/manual, retrain/weekly, ingest/daily, monitor/daily)
Worker log: $STATE/worker.log. Ctrl-C here, or \`make stack-down\` elsewhere, stops the worker and the server.
MSG
wait "$(<"$STATE/worker.pid")" || true
