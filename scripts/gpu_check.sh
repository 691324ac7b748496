#!/usr/bin/env bash
# Issue 7's GPU checks, for a machine with a CUDA GPU and a CUDA build of torch (CI has neither):
#   bash scripts/gpu_check.sh [OUTDIR]        (OUTDIR defaults to benchmarks/)
# 1. the device-parametrised tests, on the CPU and on CUDA (they skip CUDA with a reason elsewhere);
# 2. `attn-unmask bench --device cuda` in float64 and float32, written as OUTDIR/results-cuda-<dtype>.json (device name,
#    torch version, every timing) and .txt (the printed tables). Needs only torch, numpy, matplotlib, pytest, hypothesis:
#    the package runs from this checkout (PYTHONPATH), nothing is installed.
set -euo pipefail
out=${1:-benchmarks}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device visible to torch'; print('torch', torch.__version__, 'on', torch.cuda.get_device_name())"
python3 -m pytest -q -rs tests/test_properties.py tests/test_scaling.py
for dtype in float64 float32; do
  python3 -c "import sys; from attn_unmask.cli import main; sys.exit(main(sys.argv[1:]))" \
    bench --device cuda --dtype "$dtype" --json "$out/results-cuda-$dtype.json" | tee "$out/results-cuda-$dtype.txt"
done
