#!/usr/bin/env bash
# Run a command with the real Kafka and OpenSearch up; stop afterwards only what this script
# started (services a developer already had running stay running).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
started=()
status="$("$here/services.sh" status 2>&1 || true)"
for svc in kafka opensearch; do
  if ! grep -q "$svc: up" <<<"$status"; then
    "$here/services.sh" start "$svc"
    started+=("$svc")
  fi
done
cleanup() { for svc in "${started[@]}"; do "$here/services.sh" stop "$svc" || true; done; }
trap cleanup EXIT
"$@"
