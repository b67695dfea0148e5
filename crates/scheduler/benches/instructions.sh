#!/bin/sh
# Instructions of one placement decision, counted by callgrind: repeatable
# whatever else runs on the box (timings on a shared box are not), for a
# before/after on one scenario and size.
#
#   crates/scheduler/benches/instructions.sh BENCH_BINARY SCENARIO NODES
#
# BENCH_BINARY: the `select` bench executable, as `cargo bench -p
# shoal-scheduler --bench select --no-run` prints it (copy it aside to
# compare builds); SCENARIO: plain, constraints, anti_affinity, everything,
# regex_and_image or unsatisfiable (indexed nodes); NODES: e.g. 1000.
# Counts Scheduler::select_once and what it calls, over 20 and over 10
# samples: the difference, divided by 10, leaves out the set-up and the
# checks the bench makes before timing.
set -eu
bin=$1 scenario=$2 nodes=$3
out=$(mktemp)
count() {
  SELECT_NODES=$nodes valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect='*Scheduler::select_once' "$bin" --bench "$scenario::true" \
    --sample-count "$1" --sample-size 1 >/dev/null 2>&1
  callgrind_annotate "$out" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}
ten=$(count 10)
twenty=$(count 20)
rm -f "$out"
echo "$scenario $nodes nodes: $(( (twenty - ten) / 10 )) instructions per placement"
