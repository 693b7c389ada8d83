#!/usr/bin/env bash
# End-to-end time of `openclaw gateway call health` with our CLI and with the
# reference CLI, both against our gateway, in one run. Prints one JSON object.
#
#   tests/bench/cli_call.sh [RUNS_OURS] [RUNS_REFERENCE]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
shared="${SHARED_DIR:-$root/../shared}"
runs_ours="${1:-50}"
runs_ref="${2:-10}"
(cd "$root" && cargo build --release -q -p gateway-cli)
ours="$root/target/release/openclaw"
ref_bin="$(bash "$shared/tools/install-reference.sh" v4)"

work=$(mktemp -d)
trap 'kill $gw 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/gw" "$work/cli"
HOME="$work/gw" OPENCLAW_STATE_DIR="$work/gw" OPENCLAW_LOG_FILE="$work/gw.log" OPENCLAW_GATEWAY_TOKEN=t \
  "$ours" gateway run --port "$port" >/dev/null 2>&1 &
gw=$!
until curl -sf "http://127.0.0.1:$port/readyz" | grep -q '"ready":true'; do sleep 0.05; done

HOME="$work/cli" OPENCLAW_STATE_DIR="$work/cli" OPENCLAW_CONFIG_PATH="$work/cli/openclaw.json" \
python3 - "$ours" "$ref_bin" "$port" "$runs_ours" "$runs_ref" <<'PY'
import json, os, statistics, subprocess, sys, time
ours, ref_bin, port, runs_ours, runs_ref = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
url = f"ws://127.0.0.1:{port}"
def timed(cmd, env, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
        if done.returncode != 0:
            raise SystemExit(f"{cmd[0]} exited {done.returncode}")
    return statistics.median(times), min(times)
args = ["gateway", "call", "health", "--url", url, "--token", "t", "--json"]
env = dict(os.environ)
ours_med, ours_min = timed([ours] + args, env, runs_ours)
ref_env = dict(env, PATH=ref_bin + ":" + env["PATH"])
ref_med, ref_min = timed([os.path.join(ref_bin, "openclaw")] + args, ref_env, runs_ref)
print(json.dumps({"oursMedianMs": round(ours_med, 2), "oursMinMs": round(ours_min, 2),
                  "referenceMedianMs": round(ref_med, 1), "referenceMinMs": round(ref_min, 1),
                  "speedup": round(ref_med / ours_med, 1), "runsOurs": runs_ours, "runsReference": runs_ref}))
PY
