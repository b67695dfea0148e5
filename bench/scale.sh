#!/usr/bin/env bash
# Scale benchmark of `shoal manage` over hollow engines, one command:
#   bench/scale.sh NODES CONTAINERS [shoal-scale flags...]
#   bench/scale.sh 1000 30000
#   bench/scale.sh 10000 1000000 --max-fill-seconds 1200
# Builds the release binaries (shoal, shoal-hollow, shoal-scale), raises the
# open-file limit to the hard limit, and runs target/release/shoal-scale,
# which prints a markdown table row and writes report.json (see --out-dir).
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${1:?usage: bench/scale.sh NODES CONTAINERS [flags]}
containers=${2:?usage: bench/scale.sh NODES CONTAINERS [flags]}
shift 2
if [ -z "${SHOAL_SCALE_NO_BUILD:-}" ]; then
  cargo build --release -p shoal -p shoal-hollow >&2
fi
# the binaries of the target dir cargo builds into (CARGO_TARGET_DIR or target)
bin=${CARGO_TARGET_DIR:-target}/release
ulimit -n "$(ulimit -Hn)"
exec "$bin/shoal-scale" --shoal "$bin/shoal" --hollow "$bin/shoal-hollow" \
  --nodes "$nodes" --containers "$containers" "$@"
