#!/usr/bin/env bash
# distillgate in front of real vLLM student and teacher, on the lent GPU machine.
#
# Not run yet: prepared in a session without a GPU (issue 9). The gateway part and
# drive.py were run against the fake upstreams here; the vLLM part follows the tested
# recipe in the developers' shared/gpu/README.md (vLLM 0.25.0, dummy weights, offline
# tokenizer): install vLLM there first (gpu_install.sh, about 10 minutes of device time),
# then, in a device run from the repository root:
#     bash bench/gpu/run.sh            (results and logs under $OUT)
# distillgate's own Python packages must be importable there too: the script checks and
# names any that are missing (carry them as wheels, see the device tool's notes).
set -uo pipefail
OUT=${OUT:-/tmp/distillgate-gpu}
M=${MODELS:-/tmp/vllm-models}
mkdir -p "$OUT"
export PYTHONPATH=$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}
export VLLM_USE_FLASHINFER_SAMPLER=0 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

python3 - <<'PY' || exit 1
import importlib, sys
need = ["fastapi", "uvicorn", "httptools", "orjson", "yaml", "prometheus_client", "numpy",
        "openai", "httpx", "pydantic"]
missing = [m for m in need if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing Python packages on this machine: {missing}")
PY

wait_for() {  # url seconds
  python3 - "$1" "$2" <<'PY'
import sys, time, urllib.request
url, limit = sys.argv[1], float(sys.argv[2])
t0 = time.time()
while time.time() - t0 < limit:
    try:
        if urllib.request.urlopen(url, timeout=2).status == 200:
            print(f"{url} up after {time.time() - t0:.0f}s"); sys.exit(0)
    except Exception:
        time.sleep(2)
sys.exit(f"{url} did not come up")
PY
}

vllm() {  # name port mem-fraction
  python3 -m vllm.entrypoints.cli.main serve "$M/$1" --served-model-name "$1" \
    --load-format dummy --dtype bfloat16 --max-model-len 4096 --max-num-seqs 128 \
    --gpu-memory-utilization "$3" --port "$2" > "$OUT/vllm-$1.log" 2>&1 &
  pids+=($!)
  echo $! > "$OUT/$1.pid"
}

vllm teacher 8001 0.55
wait_for http://127.0.0.1:8001/health 420 || { tail -40 "$OUT/vllm-teacher.log"; exit 1; }
vllm student 8002 0.25
wait_for http://127.0.0.1:8002/health 420 || { tail -40 "$OUT/vllm-student.log"; exit 1; }

gateway() {  # port shadow-enabled shadow-rate
  SHADOW_ENABLED=$2 SHADOW_RATE=$3 python3 -m gateway --log-level warning serve \
    --config deploy/gpu/distillgate.yaml --host 127.0.0.1 --port "$1" > "$OUT/gateway-$1.log" 2>&1 &
  pids+=($!)
}
gateway 8080 false 0.0
gateway 8081 true 0.1
gateway 8082 true 1.0
for port in 8080 8081 8082; do wait_for "http://127.0.0.1:$port/healthz" 60 || exit 1; done

python3 bench/gpu/drive.py --student http://127.0.0.1:8002 \
  --gateway-off http://127.0.0.1:8080 --gateway-10 http://127.0.0.1:8081 \
  --gateway-100 http://127.0.0.1:8082 \
  --student-metrics http://127.0.0.1:8002/metrics --teacher-metrics http://127.0.0.1:8001/metrics \
  --kill-student-pid "$(cat "$OUT/student.pid")" --seconds "${SECONDS_PER_ROW:-15}" --out "$OUT"
python3 -c "import vllm; print('vLLM', vllm.__version__)" > "$OUT/versions.txt" 2>&1
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv >> "$OUT/versions.txt"
echo "GPU RUN DONE"
