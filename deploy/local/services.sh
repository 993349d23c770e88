#!/usr/bin/env bash
# Real Apache Kafka (KRaft, single node) and OpenSearch 2.19 on 127.0.0.1, from Maven Central jars.
#
#   deploy/local/services.sh fetch              resolve the jars into ~/.cache/earful (idempotent)
#   deploy/local/services.sh start [kafka|opensearch|all]
#   deploy/local/services.sh stop  [kafka|opensearch|all]
#   deploy/local/services.sh status
#
# No Docker: the broker and the search node are plain JVM processes. Jars are cached under
# $EARFUL_CACHE (default ~/.cache/earful); data and logs live under $EARFUL_STATE_DIR
# (default <repo>/var/local) and are wiped on start unless EARFUL_KEEP_DATA=1.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${EARFUL_CACHE:-$HOME/.cache/earful}"
state="${EARFUL_STATE_DIR:-$repo/var/local}"
kafka_version="4.4.0"
opensearch_version="2.19.1"
kafka_libs="$cache/kafka-$kafka_version/libs"
opensearch_libs="$cache/opensearch-$opensearch_version/libs"
kafka_port="${EARFUL_KAFKA_PORT:-9092}"
controller_port="${EARFUL_KAFKA_CONTROLLER_PORT:-9093}"
opensearch_port="${EARFUL_OPENSEARCH_PORT:-9200}"
kafka_heap="${EARFUL_KAFKA_HEAP:-512m}"
opensearch_heap="${EARFUL_OPENSEARCH_HEAP:-1g}"
start_timeout="${EARFUL_START_TIMEOUT:-120}"

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed ($2)"; }

fetch_one() {  # pom, output dir
  local pom="$1" out="$2"
  if [ -f "$out/.complete" ]; then return 0; fi
  need mvn "apt-get install maven"
  log "resolving $(basename "$pom") from Maven Central into $out"
  rm -rf "$out"
  mvn -B -q -Dmaven.repo.local="$cache/m2" -f "$pom" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$out" \
      || die "Maven could not resolve $(basename "$pom"); see the output above"
  touch "$out/.complete"
}

fetch() {
  need java "apt-get install openjdk-17-jre-headless"
  fetch_one "$here/kafka-pom.xml" "$kafka_libs"
  fetch_one "$here/opensearch-pom.xml" "$opensearch_libs"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

now_ms() { date +%s%3N; }

start_kafka() {
  local dir="$state/kafka" pidfile="$state/kafka/kafka.pid"
  if pid_alive "$pidfile"; then log "kafka already running (pid $(cat "$pidfile"))"; return 0; fi
  port_open "$kafka_port" && die "port $kafka_port is taken by another process; set EARFUL_KAFKA_PORT"
  [ "${EARFUL_KEEP_DATA:-0}" = 1 ] || rm -rf "$dir"
  mkdir -p "$dir/data"
  sed -e "s#@KAFKA_PORT@#$kafka_port#g" -e "s#@CONTROLLER_PORT@#$controller_port#g" \
      -e "s#@DATA_DIR@#$dir/data#g" -e "s#@RETENTION_CHECK_MS@#${EARFUL_KAFKA_RETENTION_CHECK_MS:-2000}#g" \
      "$here/kafka-server.properties" > "$dir/server.properties"
  sed -e "s#@LOG_FILE@#$dir/server.log#g" "$here/kafka-log4j2.properties" > "$dir/log4j2.properties"
  local cp="$kafka_libs/*" t0; t0=$(now_ms)
  if [ ! -f "$dir/data/meta.properties" ]; then
    local cluster_id; cluster_id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid)
    java -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$cp" kafka.tools.StorageTool \
      format --standalone -t "$cluster_id" -c "$dir/server.properties" > "$dir/format.log" 2>&1 \
      || { cat "$dir/format.log" >&2; die "kafka storage format failed"; }
  fi
  setsid nohup java "-Xms$kafka_heap" "-Xmx$kafka_heap" -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$cp" kafka.Kafka "$dir/server.properties" \
    > "$dir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  wait_for "kafka" "$pidfile" "$dir/stdout.log" kafka_ready
  log "kafka $kafka_version up on 127.0.0.1:$kafka_port in $(( $(now_ms) - t0 )) ms (logs: $dir/server.log)"
}

kafka_ready() {
  port_open "$kafka_port" && grep -q "Kafka Server started\|KafkaRaftServer.*started" "$state/kafka/server.log" 2>/dev/null
}

start_opensearch() {
  local dir="$state/opensearch" pidfile="$state/opensearch/opensearch.pid"
  if pid_alive "$pidfile"; then log "opensearch already running (pid $(cat "$pidfile"))"; return 0; fi
  port_open "$opensearch_port" && die "port $opensearch_port is taken by another process; set EARFUL_OPENSEARCH_PORT"
  [ "${EARFUL_KEEP_DATA:-0}" = 1 ] || rm -rf "$dir"
  mkdir -p "$dir"
  local t0; t0=$(now_ms)
  # The runner numbers nodes from 1, so the HTTP port is baseHttpPort + 1.
  setsid nohup java "-Xms$opensearch_heap" "-Xmx$opensearch_heap" -cp "$opensearch_libs/*" \
    org.codelibs.opensearch.runner.OpenSearchRunner -numOfNode 1 \
    -baseHttpPort $(( opensearch_port - 1 )) \
    -clusterName earful-local -basePath "$dir/data" \
    > "$dir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  wait_for "opensearch" "$pidfile" "$dir/stdout.log" opensearch_ready
  log "opensearch $opensearch_version up on http://127.0.0.1:$opensearch_port in $(( $(now_ms) - t0 )) ms (logs: $dir/stdout.log)"
}

opensearch_ready() {
  curl -fsS "http://127.0.0.1:$opensearch_port/_cluster/health" 2>/dev/null | grep -q '"status":"\(green\|yellow\)"'
}

wait_for() {  # name pidfile logfile check
  local name="$1" pidfile="$2" logfile="$3" check="$4" deadline=$(( $(date +%s) + start_timeout ))
  until "$check"; do
    if ! pid_alive "$pidfile"; then tail -n 40 "$logfile" >&2; die "$name exited during start-up"; fi
    if [ "$(date +%s)" -ge "$deadline" ]; then tail -n 40 "$logfile" >&2; die "$name not healthy after ${start_timeout}s"; fi
    sleep 0.3
  done
}

stop_one() {  # name pidfile
  local name="$1" pidfile="$2"
  if ! pid_alive "$pidfile"; then rm -f "$pidfile"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then log "$name did not stop in 20 s; killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$pidfile"
  log "$name stopped"
}

status() {
  local rc=0
  if pid_alive "$state/kafka/kafka.pid" && kafka_ready; then log "kafka: up on 127.0.0.1:$kafka_port"; else log "kafka: down"; rc=1; fi
  if pid_alive "$state/opensearch/opensearch.pid" && opensearch_ready; then log "opensearch: up on http://127.0.0.1:$opensearch_port"; else log "opensearch: down"; rc=1; fi
  return $rc
}

cmd="${1:-}"; what="${2:-all}"
case "$cmd" in
  fetch) fetch ;;
  start)
    fetch
    case "$what" in
      kafka) start_kafka ;;
      opensearch) start_opensearch ;;
      all) start_kafka; start_opensearch ;;
      *) die "unknown service '$what' (kafka|opensearch|all)" ;;
    esac ;;
  stop)
    case "$what" in
      kafka) stop_one kafka "$state/kafka/kafka.pid" ;;
      opensearch) stop_one opensearch "$state/opensearch/opensearch.pid" ;;
      all) stop_one kafka "$state/kafka/kafka.pid"; stop_one opensearch "$state/opensearch/opensearch.pid" ;;
      *) die "unknown service '$what' (kafka|opensearch|all)" ;;
    esac ;;
  status) status ;;
  *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
