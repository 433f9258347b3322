#!/usr/bin/env bash
# Serves the repository root on 127.0.0.1 as a static host would (precompressed files, the
# right types, revalidation): what `make serve` and the end-to-end tests run.
# Usage: tools/serve.sh [PORT] [static-server options, e.g. --isolation off]
set -euo pipefail
cd "$(dirname "$0")/.."
exec node tools/static-server.mjs "${1:-8080}" "${@:2}"
