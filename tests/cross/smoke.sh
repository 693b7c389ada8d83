#!/usr/bin/env bash
# Smoke test of a cross-built `openclaw` under QEMU user mode:
#
#   tests/cross/smoke.sh x86_64 | aarch64 | armv7 | riscv64   (after build.sh)
#
# Starts `openclaw gateway run` (token auth, a free loopback port, HOME and
# the state dir in a fresh temp dir) under qemu-<arch>-static, waits for
# GET /readyz to answer 200, makes a `health` call with the same binary's
# client (also under QEMU), sends SIGTERM and expects exit status 0 within
# the deadline. Every wait is bounded; on failure the gateway's log is shown.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=targets.sh
source "$here/targets.sh"

[ $# -eq 1 ] || { echo "usage: $0 x86_64|aarch64|armv7|riscv64" >&2; exit 2; }
resolve_target "$1"
bin="${CARGO_TARGET_DIR:-$root/target}/$TRIPLE/release/openclaw"
[ -x "$bin" ] || { echo "FAIL: no $bin (run tests/cross/build.sh $1 first)" >&2; exit 1; }
if [ -n "$QEMU" ]; then
  command -v "$QEMU" >/dev/null || apt_install qemu-user-static
  run=("$QEMU" "$bin")
else
  run=("$bin")
fi

# Emulated start-up is slower than native (TLS roots, SQLite): generous but bounded.
READY_SECS=${READY_SECS:-60}
CALL_SECS=${CALL_SECS:-60}
STOP_SECS=${STOP_SECS:-15}

tmp=$(mktemp -d)
log="$tmp/gateway.log"
gateway_pid=""
cleanup() {
  if [ -n "$gateway_pid" ] && kill -0 "$gateway_pid" 2>/dev/null; then
    kill -KILL "$gateway_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL ($TRIPLE): $*" >&2
  echo "---- gateway log (last 40 lines)" >&2
  tail -n 40 "$log" >&2 || true
  exit 1
}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token="smoke-$RANDOM$RANDOM"
export HOME="$tmp/home" OPENCLAW_STATE_DIR="$tmp/state"
mkdir -p "$HOME" "$OPENCLAW_STATE_DIR"
unset OPENCLAW_GATEWAY_TOKEN OPENCLAW_GATEWAY_PASSWORD OPENCLAW_GATEWAY_PORT OPENCLAW_CONFIG_PATH

start_ns=$(date +%s%N)
"${run[@]}" gateway run --port "$port" --bind loopback --auth token --token "$token" >"$log" 2>&1 &
gateway_pid=$!

# 1. /readyz answers 200.
deadline=$(( $(date +%s) + READY_SECS ))
until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/readyz")" = 200 ]; do
  kill -0 "$gateway_pid" 2>/dev/null || { wait "$gateway_pid" && rc=0 || rc=$?; fail "gateway exited ($rc) before /readyz answered 200"; }
  [ "$(date +%s)" -lt "$deadline" ] || fail "/readyz did not answer 200 within ${READY_SECS} s"
  sleep 0.1
done
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))

# 2. A health call from our client.
health=$(timeout "$CALL_SECS" "${run[@]}" gateway call health --url "ws://127.0.0.1:$port" \
  --token "$token" --json 2>&1) || fail "health call failed: $health"
python3 -c 'import json,sys; h=json.loads(sys.argv[1]); sys.exit(0 if h.get("ok") is True else 1)' "$health" \
  || fail "health call did not answer ok: true: $health"

# 3. SIGTERM: exits 0 within the deadline.
kill -TERM "$gateway_pid"
stop_start=$(date +%s%N)
deadline=$(( $(date +%s) + STOP_SECS ))
while kill -0 "$gateway_pid" 2>/dev/null; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "still running ${STOP_SECS} s after SIGTERM"
  sleep 0.05
done
wait "$gateway_pid" && rc=0 || rc=$?
gateway_pid=""
stop_ms=$(( ($(date +%s%N) - stop_start) / 1000000 ))
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM (expected 0)"

echo "PASS ($TRIPLE${QEMU:+ under $QEMU}): ready in ${ready_ms} ms, health ok, SIGTERM -> exit 0 in ${stop_ms} ms"
