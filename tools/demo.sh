#!/usr/bin/env bash
# The embedded-default demo on this machine: CPU target, Fashion-MNIST. Profiles a latency table,
# trains a small supernet, searches under a latency budget, extracts + fine-tunes the winner, exports,
# quantizes to INT8 Q/DQ and validates it against FP32. About 10 minutes on a 2-core machine.
set -euo pipefail
OUT=${1:-runs/demo-quick}
BUDGET_MS=${BUDGET_MS:-0.25}
mkdir -p "$OUT"
step() { echo; echo "== $* [$(date +%T)]"; }

step "1/7 profile every op of mbv3-small @28px on cpu-x86-ort-fp32"
edgenas profile --target cpu-x86-ort-fp32 --space mbv3-small --resolution 28 --out "$OUT/table_fp32.json" --quiet
step "2/7 train the supernet (4000 Fashion-MNIST images, 1 epoch)"
edgenas supernet train --space mbv3-small --train-subset 4000 --val-size 1000 --epochs 1 --out "$OUT/supernet" --quiet
step "3/7 search: max accuracy s.t. predicted latency <= ${BUDGET_MS} ms"
edgenas search --target cpu-x86-ort-fp32 --table "$OUT/table_fp32.json" --supernet "$OUT/supernet/supernet.pt" \
  --latency-ms "$BUDGET_MS" --population 12 --generations 4 --val-size 1000 --seed 0 --out "$OUT/search"
step "4/7 extract the winner and fine-tune it"
edgenas extract --supernet "$OUT/supernet/supernet.pt" --arch "$OUT/search/best.arch.json" --val-size 1000 --out "$OUT/model.pt"
edgenas finetune "$OUT/model.pt" --train-subset 4000 --val-size 1000 --epochs 1 --test-limit 2000 --out "$OUT/model_ft.pt" --quiet
step "5/7 export to ONNX"
edgenas export "$OUT/model_ft.pt" --out "$OUT/model.onnx"
step "6/7 INT8 Q/DQ"
edgenas quantize "$OUT/model.onnx" --calib-size 256 --out "$OUT/model.int8.onnx"
step "7/7 validate INT8 against FP32 on cpu-x86-ort-int8"
edgenas validate "$OUT/model.int8.onnx" --ref "$OUT/model.onnx" --target cpu-x86-ort-int8 --limit 2000 \
  --table latency_tables/cpu-x86-ort-int8_mbv3-small_r28.json --out "$OUT/report" || echo "(validation reported FAIL; see $OUT/report/report.md)"
echo; echo "done: $OUT (search: $OUT/search/result.json, report: $OUT/report/report.md)"
