#!/usr/bin/env bash
# Download, on a machine with PyPI access, the wheels that benchmarks/gpu/run.sh installs on the
# offline GPU machine (Python 3.12, x86-64 manylinux), into benchmarks/gpu/wheels/ (gitignored):
#
#     bash benchmarks/gpu/fetch_wheels.sh
#
# The GPU image already has torch, transformers, peft, accelerate, rich, typer, pandas, pyarrow,
# numpy, httpx, anyio, fsspec, huggingface-hub, pyyaml, requests, tqdm, xxhash, packaging and
# setuptools (its package list: /work/.library/device/KINDS.md); what t2s needs beyond those is
# below, pinned to the versions t2s's suite ran against. setuptools is shipped so that
# `pip install --no-deps --no-build-isolation` of t2s finds setuptools>=77 whatever the image has.
# typing-extensions and anyio are shipped because pydantic and openai need newer ones than an
# older image may hold.
#
# Checks, at the end: every wheel installs together for CPython 3.12 on manylinux x86-64; every
# requirement of a shipped wheel is shipped or on the GPU image; the total is under 64 MiB (what a
# device run may carry). Any failure exits non-zero.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DEST=${1:-$HERE/wheels}
PY=${PYTHON:-python3}
LIMIT_MIB=64

PACKAGES=(
  bitsandbytes==0.50.2
  sqlglot==30.31.0
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
  typing-extensions==4.16.0
  pydantic-settings==2.16.3 python-dotenv==1.2.4
  datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
  openai==3.63.0 jiter==0.19.0 sniffio==1.3.1 anyio==4.16.0 httpx2==2.17.0 httpcore2==2.17.0 truststore==0.10.5
  setuptools==84.2.1
)
# present on the GPU image (KINDS.md), so not shipped; lower-case, '-' for '_'
ON_IMAGE="torch transformers peft accelerate rich typer pandas pyarrow numpy packaging filelock requests
tqdm xxhash fsspec huggingface-hub pyyaml httpx httpcore h11 idna certifi jinja2 safetensors tokenizers
regex aiohttp click shellingham psutil"

PLATFORM=(--python-version 3.12 --implementation cp --only-binary=:all:
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)

mkdir -p "$DEST"
rm -f "$DEST"/*.whl
"$PY" -m pip download --quiet --no-deps "${PLATFORM[@]}" -d "$DEST" "${PACKAGES[@]}"

echo "== installing them together for CPython 3.12 x86-64 (a dry run into a temporary directory)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip install --quiet --no-index --no-deps --no-compile "${PLATFORM[@]}" --target "$tmp/site" "$DEST"/*.whl

echo "== requirements of the shipped wheels that are neither shipped nor on the GPU image"
"$PY" - "$DEST" "$ON_IMAGE" <<'PYEOF'
import re, sys, zipfile
from pathlib import Path

from packaging.requirements import Requirement

GPU_ENV = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
           "platform_python_implementation": "CPython", "implementation_name": "cpython"}

dest, on_image = Path(sys.argv[1]), set(sys.argv[2].split())
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
shipped, needs = set(), {}
for wheel in sorted(dest.glob("*.whl")):
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
    shipped.add(norm(re.search(r"^Name: (.+)$", text, re.M).group(1).strip()))
    for text_req in re.findall(r"^Requires-Dist: (.+)$", text, re.M):
        req = Requirement(text_req)
        if req.marker and not req.marker.evaluate(GPU_ENV | {"extra": ""}):
            continue  # an extra, or for another Python or platform
        needs.setdefault(norm(req.name), []).append(wheel.name)
missing = {n: w for n, w in needs.items() if n not in shipped and n not in on_image}
for name, wheels in sorted(missing.items()):
    print(f"MISSING {name} (needed by {', '.join(wheels)})")
sys.exit(1 if missing else 0)
PYEOF
echo "none"

total=$(du -cb "$DEST"/*.whl | tail -1 | cut -f1)
echo "== $(ls "$DEST"/*.whl | wc -l) wheels, $(( total / 1024 / 1024 )) MiB ($total bytes) in $DEST"
if (( total >= LIMIT_MIB * 1024 * 1024 )); then
  echo "over the ${LIMIT_MIB} MiB a device run may carry" >&2
  exit 1
fi
