#!/usr/bin/env bash
# Start or stop the development stack without Docker: redis-server (AOF on), one Celery worker and uvicorn,
# all on loopback, in the background, with pid files and logs under .run/.
#   scripts/stack.sh up | down | status
# Environment: PYTHON (default .venv/bin/python or python3), API_PORT (8000), REDIS_PORT (6380),
# WORKER_CONCURRENCY (2). REDIS_PORT is not 6379 so a system Redis does not get in the way.
set -euo pipefail

cd "$(dirname "$0")/.."
RUN=.run
API_PORT=${API_PORT:-8000}
REDIS_PORT=${REDIS_PORT:-6380}
WORKER_CONCURRENCY=${WORKER_CONCURRENCY:-2}
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/0"

running() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

start() {  # start NAME COMMAND...: a new session (process group) so `down` stops its children too
  local name=$1; shift
  if running "$name"; then echo "$name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  setsid "$@" >"$RUN/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$name.pid"
  echo "started $name (pid $!, log $RUN/$name.log)"
}

stop() {  # stop NAME: TERM the process group, KILL it if it has not exited after 20 s
  local name=$1 pid
  if ! running "$name"; then rm -f "$RUN/$name.pid"; return; fi
  pid=$(cat "$RUN/$name.pid")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$RUN/$name.pid"
  echo "stopped $name"
}

wait_ready() {  # until /readyz answers 200 (Redis up and a worker heartbeat), or fail after 60 s
  "$PYTHON" - "$API_PORT" <<'PY'
import sys, time, urllib.request
url = f'http://127.0.0.1:{sys.argv[1]}/readyz'
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                print(f'ready: {url}')
                break
    except Exception as error:
        last = error
    if time.monotonic() > deadline:
        sys.exit(f'not ready after 60 s ({last}); see .run/*.log')
    time.sleep(0.5)
PY
}

case "${1:-}" in
  up)
    mkdir -p "$RUN/redis"
    command -v redis-server >/dev/null || { echo 'redis-server is missing: apt-get install -y redis-server' >&2; exit 1; }
    start redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN/redis" --save '' \
      --appendonly yes --appendfsync everysec --maxmemory-policy noeviction
    start worker "$PYTHON" -m celery -A worker.celery_app worker --pool prefork \
      --concurrency "$WORKER_CONCURRENCY" --loglevel INFO
    start api "$PYTHON" -m uvicorn service.main:app --host 127.0.0.1 --port "$API_PORT"
    if ! wait_ready; then "$0" down; exit 1; fi
    ;;
  down)
    stop api; stop worker; stop redis
    ;;
  status)
    for name in redis worker api; do
      if running "$name"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"; else echo "$name: stopped"; fi
    done
    ;;
  *)
    echo "usage: $0 up|down|status" >&2; exit 2
    ;;
esac
