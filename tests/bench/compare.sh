#!/usr/bin/env bash
# Side-by-side benchmark of our gateway and the reference (Node.js) gateway on
# this machine, in one run. Writes results/compare.{json,md,svg}.
#
#   tests/bench/compare.sh            # full run (about 10 minutes)
#   QUICK=1 tests/bench/compare.sh    # smaller client counts, for a smoke test
#
# Needs npm (the reference is installed by ../shared/tools/install-reference.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
shared="${SHARED_DIR:-$root/../shared}"
out="$here/results"
mkdir -p "$out"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ "${QUICK:-0}" = 1 ]; then
  many=1000; most=2000; rps_secs=3; rounds=5; flood_events=2000
else
  many=1000; most=10000; rps_secs=10; rounds=20; flood_events=20000
fi
many=${MANY:-$many}; most=${MOST:-$most}; flood_events=${FLOOD_EVENTS:-$flood_events}
# Every client count below connects loadgen's real client mix: 40 % SDK
# backends (gateway-client/backend), 30 % CLIs, 20 % webchat pages
# (webchat/webchat, with Origin) and 10 % node hosts (node-host/node, operator
# role), each but the CLIs with its own instance id.
mix=real
token=bench-token

echo "== building (release)" >&2
(cd "$root" && cargo build --release -q -p gateway-cli -p tests)
bin="$root/target/release"
echo "== installing the reference gateway" >&2
ref_bin="$(bash "$shared/tools/install-reference.sh" v4)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Sum of a value over a process and all its descendants.
tree_pids() { local p=$1; echo "$p"; for c in $(pgrep -P "$p" 2>/dev/null); do tree_pids "$c"; done; }
rss_kb() { local sum=0; for p in $(tree_pids "$1"); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0); sum=$((sum + ${v:-0})); done; echo "$sum"; }
cpu_secs() { local ticks=0 hz; hz=$(getconf CLK_TCK); for p in $(tree_pids "$1"); do
    t=$(awk '{print $14+$15+$16+$17}' "/proc/$p/stat" 2>/dev/null || echo 0); ticks=$((ticks + ${t:-0})); done
    python3 -c "print(round($ticks/$hz, 2))"; }

# gateway_cmd IMPL PORT: the command line that runs IMPL on PORT.
gateway_cmd() {
  case "$1" in
    ours) echo "$bin/openclaw gateway run --port $2 --bind loopback" ;;
    # The reference's launcher runs `node` from PATH: its own Node 24 must come first.
    reference) echo "env PATH=$ref_bin:$PATH $ref_bin/openclaw gateway run --port $2 --bind loopback --allow-unconfigured" ;;
  esac
}

# hold_rss PID PORT N: connect N clients, report "RSS-kB connect-seconds" while all are held.
hold_rss() {
  local log; log=$(mktemp)
  # loadgen holds its clients until its stdin closes: a FIFO whose write end
  # this shell keeps open until the measurement is done.
  local fifo; fifo=$(mktemp -u); mkfifo "$fifo"
  "$bin/loadgen" --url "ws://127.0.0.1:$2" --token "$token" --clients "$3" --mix "$mix" --concurrency 256 --mode hold --seconds 600 \
    >"$log" 2>&1 <"$fifo" &
  local lg=$!
  exec 7>"$fifo"
  local waited=0
  while ! grep -q '^READY' "$log" && kill -0 "$lg" 2>/dev/null && [ $waited -lt 600 ]; do sleep 1; waited=$((waited+1)); done
  local result="null null"
  if grep -q '^READY' "$log"; then sleep 2; result="$(rss_kb "$1") $(awk '/^READY/ {print $3}' "$log")"; else echo "   hold $3 failed: $(tail -1 "$log")" >&2; fi
  exec 7>&-
  kill "$lg" 2>/dev/null || true; wait "$lg" 2>/dev/null || true
  rm -f "$log" "$fifo"
  sleep 2
  echo "$result"
}

# flood_run PID PORT: the flood with a stalled reader; prints "peak-kB after-kB rate".
flood_run() {
  local log; log=$(mktemp)
  local before; before=$(rss_kb "$1")
  "$bin/loadgen" --url "ws://127.0.0.1:$2" --token "$token" --mode flood --events "$flood_events" >"$log" 2>&1 &
  local lg=$! peak=$before
  while kill -0 "$lg" 2>/dev/null; do
    v=$(rss_kb "$1"); [ "$v" -gt "$peak" ] && peak=$v; sleep 0.2
  done
  wait "$lg" 2>/dev/null || true
  sleep 3
  local after; after=$(rss_kb "$1")
  local rate; rate=$(tail -1 "$log" | python3 -c 'import json,sys
try: print(json.load(sys.stdin)["perSecond"])
except Exception: print("null")')
  rm -f "$log"
  echo "$before $peak $after $rate"
}

measure() {
  local impl=$1 state port pid
  state=$(mktemp -d)
  export HOME="$state" OPENCLAW_STATE_DIR="$state/state" OPENCLAW_CONFIG_PATH="$state/state/openclaw.json" \
    OPENCLAW_LOG_FILE="$state/gateway.log" OPENCLAW_GATEWAY_TOKEN="$token" OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP=1000000
  mkdir -p "$OPENCLAW_STATE_DIR"
  local runs=3; [ "$impl" = reference ] && runs=2
  local ready=()
  for _ in $(seq "$runs"); do
    port=$(free_port)
    # shellcheck disable=SC2046
    ready+=("$("$bin/startup" --port "$port" -- $(gateway_cmd "$impl" "$port") | python3 -c 'import json,sys; print(json.load(sys.stdin)["readyMs"])')")
  done
  local ready_ms; ready_ms=$(printf '%s\n' "${ready[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "   $impl: exec to ready ${ready_ms} ms (runs: ${ready[*]})" >&2

  port=$(free_port)
  # shellcheck disable=SC2046
  setsid $(gateway_cmd "$impl" "$port") >"$state/stdout.log" 2>&1 &
  pid=$!
  local waited=0
  until curl -sf "http://127.0.0.1:$port/readyz" 2>/dev/null | grep -q '"ready":true'; do
    sleep 0.2; waited=$((waited+1)); [ $waited -gt 300 ] && { echo "$impl did not become ready" >&2; exit 1; }
  done
  sleep 3
  local idle; idle=$(rss_kb "$pid"); echo "   $impl: idle RSS ${idle} kB" >&2
  local rss_many conn_many; read -r rss_many conn_many < <(hold_rss "$pid" "$port" "$many")
  echo "   $impl: RSS with $many clients ${rss_many} kB, connected in ${conn_many} s" >&2
  local rss_most conn_most; read -r rss_most conn_most < <(hold_rss "$pid" "$port" "$most")
  echo "   $impl: RSS with $most clients ${rss_most} kB, connected in ${conn_most} s" >&2
  local rps; rps=$("$bin/loadgen" --url "ws://127.0.0.1:$port" --token "$token" --clients 100 --mix "$mix" --concurrency 256 --mode rps --seconds "$rps_secs" 2>&1 | tail -1)
  echo "   $impl: rps $rps" >&2
  local fan; fan=$("$bin/loadgen" --url "ws://127.0.0.1:$port" --token "$token" --clients "$many" --mix "$mix" --concurrency 256 --mode fanout --rounds "$rounds" 2>&1 | tail -1)
  echo "   $impl: fanout $fan" >&2
  local fan_most; fan_most=$("$bin/loadgen" --url "ws://127.0.0.1:$port" --token "$token" --clients "$most" --mix "$mix" --concurrency 256 --mode fanout --rounds 5 2>&1 | tail -1)
  echo "   $impl: fanout to $most $fan_most" >&2
  local fl_before fl_peak fl_after fl_rate; read -r fl_before fl_peak fl_after fl_rate < <(flood_run "$pid" "$port")
  echo "   $impl: flood of $flood_events: ${fl_rate}/s, RSS ${fl_before} -> peak ${fl_peak} -> ${fl_after} kB" >&2
  local cpu; cpu=$(cpu_secs "$pid")
  kill -TERM -- -"$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  sleep 2; kill -KILL -- -"$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$state"
  python3 - "$impl" "$ready_ms" "$idle" "$rss_many" "$rss_most" "$rps" "$fan" "$cpu" "$many" "$most" "$fan_most" \
    "$conn_many" "$conn_most" "$fl_before" "$fl_peak" "$fl_after" "$fl_rate" "$flood_events" "$mix" <<'PY'
import json, sys
(impl, ready, idle, many_rss, most_rss, rps, fan, cpu, many, most, fan_most,
 conn_many, conn_most, fl_before, fl_peak, fl_after, fl_rate, fl_events, mix) = sys.argv[1:]
def num(s):
    try: return float(s)
    except ValueError: return None
def obj(s):
    try: return json.loads(s)
    except ValueError: return {"error": s}
print(json.dumps({"impl": impl, "readyMs": num(ready), "idleRssKb": num(idle),
    "rssManyKb": num(many_rss), "rssMostKb": num(most_rss), "many": int(many), "most": int(most),
    "rps": obj(rps), "fanout": obj(fan), "fanoutMost": obj(fan_most), "cpuSeconds": num(cpu),
    "connectManySeconds": num(conn_many), "connectMostSeconds": num(conn_most), "mix": mix,
    "flood": {"events": int(fl_events), "perSecond": num(fl_rate), "rssBeforeKb": num(fl_before),
              "rssPeakKb": num(fl_peak), "rssAfterKb": num(fl_after)}}))
PY
}

echo "== ours" >&2
ours=$(measure ours)
echo "== reference" >&2
ref=$(measure reference)
printf '[%s,%s]\n' "$ours" "$ref" >"$out/compare.json"
echo "== CLI: openclaw gateway call health, ours vs reference, against our gateway" >&2
bash "$here/cli_call.sh" 50 10 >"$out/cli_call.json"
python3 "$here/report.py" "$out/compare.json" "$out/compare.md" "$out/compare.svg" "$out/cli_call.json"
cat "$out/compare.md"
