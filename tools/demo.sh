#!/usr/bin/env bash
# The main job on the bundled demo workload: installs what is missing, builds, then traces
# tests/workloads/demo (anonymous and file mappings from several call sites, two threads,
# a child process that execs) and prints the live log and the end-of-trace summary.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build_dir=${MAPTRAIL_BUILD_DIR:-build}
echo
echo "== maptrail trace -- $build_dir/tests/workloads/demo"
exec "$build_dir/maptrail" trace -- "$build_dir/tests/workloads/demo"
