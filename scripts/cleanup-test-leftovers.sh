#!/usr/bin/env bash
# Remove the containers that an interrupted test run left behind: every
# container (running or not) carrying the label bosun.io/test-run, any value.
set -euo pipefail
export DOCKER_HOST="${DOCKER_HOST:-unix://${BOSUN_DOCKER_SOCK:-/var/run/docker.sock}}"
mapfile -t ids < <(docker ps -aq --filter label=bosun.io/test-run)
if [ "${#ids[@]}" -gt 0 ]; then
  docker rm -f -v "${ids[@]}" >/dev/null
fi
echo "cleanup-test-leftovers: removed ${#ids[@]} container(s)"
