#!/usr/bin/env bash
# The whole test suite, from a fresh machine: setup, lint (import boundaries, format), type check,
# then every unit and integration test against the real tools (qemu-img, qemu-nbd, nbdkit, radosgw).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
echo '== lint' && npm run --silent lint
echo '== typecheck' && npm run --silent typecheck
echo '== tests' && npx vitest run "$@"
