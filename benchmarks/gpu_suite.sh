#!/usr/bin/env bash
# The GPU measuring session in one command, on a machine with torch and nothing else of ours installed:
#   bash benchmarks/gpu_suite.sh [gpu_suite.py options]
# installs what the suite needs from the wheels folder (make gpu-wheels writes gpu_wheels/; WHEELS=DIR for another)
# without touching the network, then runs benchmarks/gpu_suite.py. Without the folder it assumes all is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
WHEELS="${WHEELS:-gpu_wheels}"
if [ -d "$WHEELS" ]; then
  "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" -r benchmarks/gpu_requirements.txt
fi
"$PY" - <<'PY'
import importlib.util, sys
missing = [m for m in ("timm", "pandas", "pyarrow", "scipy", "sklearn", "albumentations", "lightgbm", "entmax", "ptwt")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"gpu_suite: missing {missing}: run make gpu-wheels on a machine with internet and carry gpu_wheels/")
PY
exec "$PY" benchmarks/gpu_suite.py "$@"
