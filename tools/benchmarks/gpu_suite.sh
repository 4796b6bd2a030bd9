#!/usr/bin/env bash
# The open GPU figures of docs/benchmarks.md ("GPU figures still open"), in one run on one CUDA
# device, from the repository root:
#
#   bash tools/benchmarks/gpu_suite.sh [OUT_DIR]      # default OUT_DIR: work_dirs/gpu_benchmarks
#   PYTHON=/path/to/python bash tools/benchmarks/gpu_suite.sh
#   PART=1 bash tools/benchmarks/gpu_suite.sh; PART=2 bash ...   # criterion / throughput halves
#   DEVICE=cpu QUICK=--quick bash tools/benchmarks/gpu_suite.sh /tmp/suite   # a CPU smoke test
#
# Every benchmark writes OUT_DIR/<name>.txt and its seconds go to the screen; one that fails does
# not stop the others. The order puts the figures the issue asks for first. Estimated 8-10 minutes
# on one H200 (most of it the 2 sklearn reference runs and the Python start-ups); where one command
# may run for at most 10 minutes, run the two halves (PART=1, PART=2) as two commands.
set -u
PART=${PART:-all}
OUT=${1:-work_dirs/gpu_benchmarks}
PY=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/device.txt" 2>&1

# transformers >= 5 breaks `import mmpretrain.models` (mmpretrain 1.2's multimodal models); a
# transformers dist-info of version 0.0 first on the path makes mmpretrain skip them.
if ! "$PY" -c 'import mmpretrain.models' > /dev/null 2>&1; then
    mkdir -p "$OUT/no_multimodal/transformers-0.0.dist-info"
    printf 'Metadata-Version: 2.1\nName: transformers\nVersion: 0.0\n' \
        > "$OUT/no_multimodal/transformers-0.0.dist-info/METADATA"
    export PYTHONPATH="$OUT/no_multimodal${PYTHONPATH:+:$PYTHONPATH}"
    echo "import mmpretrain.models failed: mmpretrain's multimodal models turned off"
fi

run() {
    local name=$1 start
    shift
    start=$(date +%s)
    echo "== $name: $*"
    "$PY" "$@" --device "$DEVICE" $QUICK > "$OUT/$name.txt" 2>&1 || echo "   FAILED, see $OUT/$name.txt"
    echo "   $(( $(date +%s) - start )) s"
}

B=tools/benchmarks
if [ "$PART" != 2 ]; then
if [ "$DEVICE" != cpu ]; then  # the CUDA-only tests: no host synchronisation in the t-SNE loop
    "$PY" -m pytest tests/test_criteria/test_tsne_torch.py -q > "$OUT/tsne_torch_tests.txt" 2>&1 \
        || echo "   FAILED, see $OUT/tsne_torch_tests.txt"
fi
# Criterion: kept depth on every case and seed, profile, speed-up over the reference, large N.
run select_depth_torch $B/bench_select_depth.py --sizes 1000 --seeds 5 --variants torch --profile
run select_depth_vs_reference $B/bench_select_depth.py --sizes 1000 --seeds 1 \
    --variants sklearn torch auto --profile
run select_depth_large $B/bench_select_depth.py --sizes 5000 10000 --seeds 1 \
    --cases rise_fall_10cls --variants torch --profile
# End-to-end analysis of ViT-B/16 on 1000 images.
run sls_analysis $B/bench_sls_analysis.py
fi
[ "$PART" = 1 ] && exit 0
# Dense tasks against the paper's Tables 6 and 7.
run dense_fp32 $B/bench_dense.py --batch-size 1 --dtype fp32
run dense_fp16 $B/bench_dense.py --batch-size 1 --dtype fp16
# ViT-B/16 depth and adapters at the paper's batch sizes.
for batch in 1 64; do
    run depth_b${batch}_fp32 $B/bench_depth.py --batch-size $batch --dtype fp32
    run adapters_b${batch}_fp32 $B/bench_adapters.py --batch-size $batch --dtype fp32
done
run depth_b64_fp16 $B/bench_depth.py --batch-size 64 --dtype fp16
run adapters_b64_fp16 $B/bench_adapters.py --batch-size 64 --dtype fp16
run sls_capture $B/bench_sls_capture.py
