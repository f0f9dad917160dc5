#!/usr/bin/env bash
# The main job on the embedded default: SQLite files in .data/demo and a Tansu broker
# started (and stopped) by the program itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/registry demo "$@"
