#!/usr/bin/env bash
# Sets Strata up on a fresh Debian machine with Node.js: Debian packages, npm packages, build.
# Idempotent and quiet when there is nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-system.sh

# npm install (not npm ci: npm 11 rejects lock files that omit other platforms' optional packages, as
# rollup's are here) only when the lock file changed since the last install.
stamp=node_modules/.strata-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm install --no-fund --no-audit --loglevel=error
  cp package-lock.json "$stamp"
fi

npm run --silent build
