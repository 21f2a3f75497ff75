# Shared settings and helpers for the local stack scripts. Sourced, not run.
# Every address, port and path can be overridden from the environment.
set -euo pipefail

MURRON_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Data, logs and pid files: one git-ignored folder per checkout.
MURRON_STATE=${MURRON_STATE:-$MURRON_ROOT/.local}
# Downloaded or compiled tools, shared by checkouts on one machine so a fresh clone does not rebuild them.
MURRON_TOOLS=${MURRON_TOOLS:-$HOME/.cache/murron/tools}

PG_VERSION=${PG_VERSION:-}
PG_CLUSTER=${PG_CLUSTER:-murron}
PG_PORT=${PG_PORT:-5433}
PG_DB=${PG_DB:-murron}
PG_USER=${PG_USER:-murron}
PG_PASSWORD=${PG_PASSWORD:-murron}

KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_HEAP=${KAFKA_HEAP:-512m}
# A second listener with TLS and SASL/PLAIN, as managed Kafka services require (Confluent Cloud, MSK).
KAFKA_SSL_PORT=${KAFKA_SSL_PORT:-9094}
KAFKA_SASL_USER=${KAFKA_SASL_USER:-murron}
KAFKA_SASL_PASSWORD=${KAFKA_SASL_PASSWORD:-murron-kafka-secret}

S3_PORT=${S3_PORT:-9000}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-murron}
S3_SECRET_KEY=${S3_SECRET_KEY:-murron-secret}
S3_FS_VERSION=${S3_FS_VERSION:-0.14.1}

log() { printf '\033[1m[%s]\033[0m %s\n' "${SERVICE:-stack}" "$*" >&2; }
die() { printf '\033[1;31m[%s] error:\033[0m %s\n' "${SERVICE:-stack}" "$*" >&2; exit 1; }

# cargo_tool NAME VERSION [CARGO INSTALL ARGS...]: installs a tool from crates.io into the tools folder
# once per machine (its own target folder, deleted after), and prints the folder of its binaries.
cargo_tool() {
  local name=$1 version=$2 root=$MURRON_TOOLS/$1-$2
  shift 2
  if [ ! -x "$root/bin/$name" ]; then
    command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) first"
    log "installing $name $version from crates.io into $root (once per machine, a few minutes)"
    cargo install --locked "$name@$version" --root "$root" --target-dir "$MURRON_TOOLS/cargo-target-$name" "$@" \
      >"$MURRON_TOOLS/$name-install.log" 2>&1 \
      || { tail -n 30 "$MURRON_TOOLS/$name-install.log" >&2; die "cargo install $name failed"; }
    rm -rf "$MURRON_TOOLS/cargo-target-$name"
  fi
  echo "$root/bin"
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT SECONDS LOGFILE: wait for a listener, or fail showing the log's tail.
wait_port() {
  local port=$1 secs=$2 logfile=${3:-}
  for _ in $(seq 1 $((secs * 4))); do
    port_open "$port" && return 0
    sleep 0.25
  done
  [ -n "$logfile" ] && [ -f "$logfile" ] && tail -n 40 "$logfile" >&2
  die "nothing listens on 127.0.0.1:$port after ${secs}s"
}

# pid_alive PIDFILE: true when the pid file names a running process.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid PIDFILE: TERM, wait up to 30 s, then KILL.
stop_pid() {
  local pidfile=$1 pid
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$pidfile"
}

apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  if [ ! -f "$MURRON_TOOLS/.apt-updated" ]; then
    apt-get update -qq && mkdir -p "$MURRON_TOOLS" && touch "$MURRON_TOOLS/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
