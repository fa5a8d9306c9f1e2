#!/usr/bin/env bash
# The demo: the Strata server with a lab XCP-ng pool on this machine, a local repository and a demo job
# (VMs tagged 'web', hourly, 4 restore points kept) already configured. It prints the URL and the login
# and runs until Ctrl-C. STRATA_PORT (default 8470) and STRATA_HOST (default 127.0.0.1) move it; the
# state lives in .strata/server-demo, started afresh each time. The command-line demo is demo-cli.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

data=.strata/server-demo
rm -rf "$data"
exec node packages/cli/bin/strata.js server --demo --data-dir "$data"
