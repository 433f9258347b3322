#!/usr/bin/env bash
# Serves the repository root as a static site on 127.0.0.1 (what `make serve` and the
# end-to-end tests run). Usage: tools/serve.sh [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -m http.server "${1:-8080}" --bind 127.0.0.1 --directory .
