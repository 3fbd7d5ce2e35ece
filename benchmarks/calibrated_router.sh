#!/usr/bin/env bash
# Calibrated router on the embedded model: three arithmetic pools of rising difficulty
# (24 problems x 16 samples + critiques each), a policy fitted on half of each pool, and the
# comparison with fixed strategies on the other half. Resumable: rerun after an interruption.
# Usage: bash benchmarks/calibrated_router.sh [OUT_DIR]   (default runs/router)
set -euo pipefail
out="${1:-runs/router}"
common=(--size 24 --k-max 16 --max-tokens 32 --no-plot --n-boot 200
        --strategies coverage,majority,filter_vote,best_of_n)
langgraph-ttc curves --task rg:basic_arithmetic --out "$out/add1" "${common[@]}" \
    --task-config '{"max_terms": 2, "max_digits": 1, "operators": ["+"], "allow_negation": false}'
langgraph-ttc curves --task rg:basic_arithmetic --out "$out/arith1" "${common[@]}" \
    --task-config '{"max_terms": 2, "max_digits": 1}'
langgraph-ttc curves --task rg:basic_arithmetic --out "$out/arith2" "${common[@]}" \
    --task-config '{"max_terms": 2, "min_digits": 2, "max_digits": 2}'
pools=(--pool "$out/add1/pool.sqlite" --pool "$out/arith1/pool.sqlite"
       --pool "$out/arith2/pool.sqlite")
langgraph-ttc calibrate "${pools[@]}" --budgets 1,2,4,8,16 --out "$out/policy.json"
langgraph-ttc compare "${pools[@]}" --policy "$out/policy.json" --out "$out/compare"
