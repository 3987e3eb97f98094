#!/usr/bin/env bash
# The one command that installs everything and runs the full test suite
# (the README's test command). Runs as root; see scripts/setup-host.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup-host.sh --containerd && npm ci && npm test
