#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, then runs every test with ctest.
# Unit tests need nothing; the BPF tests need root and load real programs. Under CI=true a
# BPF test that cannot run fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build_dir=${MAPTRAIL_BUILD_DIR:-build}
if [[ $(id -u) -ne 0 ]]; then
  echo "note: not root: the BPF tests will be skipped (run as root to include them)" >&2
fi
cd "$build_dir"
ctest --output-on-failure --timeout 1500 "$@"
