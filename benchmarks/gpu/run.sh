#!/usr/bin/env bash
# The book's recipe measured at Yi-Ko-6B's size on one GPU, with no network (issue 16).
#
#   bash benchmarks/gpu/fetch_wheels.sh        # first, on a machine with PyPI (fills benchmarks/gpu/wheels/)
#   bash benchmarks/gpu/run.sh [--results DIR] [driver options]      # on the GPU machine, < 8 minutes
#   bash benchmarks/gpu/run.sh --tiny          # the same phases at a tiny shape, on a CPU (T2S_GPU_TINY=1)
#
# 1. installs the shipped wheels (bitsandbytes, sqlglot, pydantic-settings, datasets, openai and
#    what they need beyond the GPU image) into $T2S_GPU_SITE, then `pip install --no-deps` of this
#    checkout of t2s there, and puts it first on PYTHONPATH; nothing is downloaded;
# 2. runs benchmarks/gpu/driver.py (its docstring lists the phases), which writes DIR/results.json
#    (figures + machine) and DIR/log.txt, and prints a summary table.
#
# --tiny (a CPU machine whose Python already has t2s's dependencies) installs only t2s itself, unless
# T2S_GPU_WHEELS=1. T2S_GPU_SKIP_INSTALL=1 skips step 1 and uses the Python environment as it is.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}
SITE=${T2S_GPU_SITE:-/tmp/t2s-gpu-site}
TINY=${T2S_GPU_TINY:-0}
for arg in "$@"; do [[ $arg == --tiny ]] && TINY=1; done

if [[ ${T2S_GPU_SKIP_INSTALL:-0} != 1 ]]; then
  rm -rf "$SITE"
  mkdir -p "$SITE"
  shopt -s nullglob
  wheels=("$HERE"/wheels/*.whl)
  if [[ $TINY == 1 && ${T2S_GPU_WHEELS:-0} != 1 ]]; then
    echo "--tiny: using this Python's packages (T2S_GPU_WHEELS=1 installs the cp312 wheels too)"
  elif (( ${#wheels[@]} )); then
    echo "installing ${#wheels[@]} wheels from $HERE/wheels into $SITE"
    "$PY" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "${wheels[@]}"
  elif [[ $TINY != 1 ]]; then
    echo "error: no wheels in $HERE/wheels; run benchmarks/gpu/fetch_wheels.sh on a machine with PyPI first" >&2
    exit 2
  fi
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  # t2s itself, without its dependencies (they are the image's and the wheels'); the build uses the
  # shipped setuptools (no build isolation: nothing can be downloaded)
  build=$(mktemp -d)
  cp -r "$REPO/pyproject.toml" "$REPO/README.md" "$REPO/text2sql_cli" "$build/"
  "$PY" -m pip install --quiet --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir \
    --target "$SITE" "$build"
  rm -rf "$build"
  (cd / && "$PY" -c "import text2sql_cli; print('t2s', text2sql_cli.__version__, 'from', text2sql_cli.__file__)")
fi

# --no-deps skips pyproject's floors: check the one the image is known to miss (it had 5.17;
# generate's `cache=` argument, used by t2s infer, is transformers >= 5.24)
"$PY" - <<'PYEOF' || exit 2
import sys
from importlib.metadata import version

from packaging.version import Version

have = version("transformers")
if Version(have) < Version("5.24"):
    sys.exit(f"error: transformers {have} is older than t2s needs (>= 5.24, pyproject.toml); ship "
             "transformers 5.25 with huggingface-hub 2.x and kernels in benchmarks/gpu/wheels")
PYEOF

exec "$PY" "$HERE/driver.py" "$@"
