#!/usr/bin/env bash
# A history with a known step, for docs/history.md: N runs of `pytest benchmarks/ --quick --benchmark-autosave`,
# each on a commit of its own (an empty commit in a scratch clone), the runs from SLOW_FROM on made slower with
# CIFAR_BENCH_INJECT_SLOWDOWN. Then the history table, PNG and HTML of them.
#   scripts/history_demo.sh [OUT]      (N=12 SLOW_FROM=7 SLOWDOWN=0.10 by default; ~17 min on 2 cores)
set -euo pipefail
N="${N:-12}"; SLOW_FROM="${SLOW_FROM:-7}"; SLOWDOWN="${SLOWDOWN:-0.10}"
OUT="$(realpath -m "${1:-reports/history-demo}")"
work="$(mktemp -d)"
git clone -q . "$work/repo"
cd "$work/repo"
make install >/dev/null
git -c user.name=demo -c user.email=demo@localhost commit -q --allow-empty -m "history demo: start"
for i in $(seq 1 "$N"); do
    git -c user.name=demo -c user.email=demo@localhost commit -q --allow-empty -m "history demo: run $i"
    if [ "$i" -ge "$SLOW_FROM" ]; then export CIFAR_BENCH_INJECT_SLOWDOWN="$SLOWDOWN"; fi
    echo "run $i/$N at $(git rev-parse --short HEAD) (injected: ${CIFAR_BENCH_INJECT_SLOWDOWN:-none})"
    .venv/bin/python -m pytest benchmarks/ --quick --benchmark-autosave -q -p no:cacheprovider >/dev/null
done
mkdir -p "$OUT"
cp .benchmarks/*/*.json "$OUT/"
.venv/bin/python -m cifar history "$OUT"/*.json --plot "$OUT/history.png" --html "$OUT/history.html" \
    --json "$OUT/history.json" | tee "$OUT/history.txt"
rm -rf "$work"
