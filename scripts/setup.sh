#!/usr/bin/env bash
# Sets Strata up on a fresh Debian machine with Node.js: Debian packages, npm packages, build.
# Idempotent and quiet when there is nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-system.sh

# npm ci only when the lock file changed since the last install (it wipes node_modules).
stamp=node_modules/.strata-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-fund --no-audit --loglevel=error
  cp package-lock.json "$stamp"
fi

npm run --silent build
