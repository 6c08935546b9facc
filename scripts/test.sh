#!/usr/bin/env bash
# The one test command (`pnpm test`): installs what the tests need, starts a throwaway PostgreSQL,
# then builds, type-checks, lints, checks the API reference and runs every vitest project. Extra
# arguments go to `vitest run`.
# Safe to run again and again: system packages are installed only when missing, and the PostgreSQL
# server it starts is stopped and deleted on exit, whatever happens.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

PG_FIRST_PORT=55432
PG_ROOT=''
PG_BIN=''
PG_AS=()
POLICY_RC_ADDED=false

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local status=$?
  set +e
  # Stop only the server this run started: the one whose data directory we made.
  if [[ -n "$PG_ROOT" && -f "$PG_ROOT/data/postmaster.pid" ]]; then
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m immediate -w stop >/dev/null 2>&1 ||
      warn "could not stop the PostgreSQL server in $PG_ROOT"
  fi
  [[ -n "$PG_ROOT" ]] && rm -rf "$PG_ROOT"
  [[ "$POLICY_RC_ADDED" == true ]] && as_root rm -f /usr/sbin/policy-rc.d
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_root() {
  if ((EUID == 0)); then "$@"; else sudo -n "$@"; fi
}

can_apt() {
  command -v apt-get >/dev/null 2>&1 || return 1
  ((EUID == 0)) || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

# The newest PostgreSQL server binaries installed (Debian keeps them in /usr/lib/postgresql/<major>/bin).
find_pg_bin() {
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/psql" ]] && printf '%s\n' "$dir"
}

port_in_use() {
  (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

install_system_packages() {
  local missing=()
  if [[ -z "${EVENTSYNC_CHROMIUM:-}" && ! -x /usr/bin/chromium ]]; then missing+=(chromium); fi
  if [[ -z "${EVENTSYNC_PG_URL:-}" ]] && ! find_pg_bin >/dev/null; then missing+=(postgresql); fi
  ((${#missing[@]})) || return 0

  section "Installing system packages: ${missing[*]}"
  if ! can_apt; then
    local reason="cannot install ${missing[*]}: apt-get is missing or needs root (or passwordless sudo)"
    is_ci && die "$reason"
    warn "$reason; the tests that need them will skip and say why"
    return 0
  fi
  # Keep package scripts from starting services: Debian would start a `main` PostgreSQL cluster on install.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    POLICY_RC_ADDED=true
  fi
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=120 "${missing[@]}"
  if [[ "$POLICY_RC_ADDED" == true ]]; then
    as_root rm -f /usr/sbin/policy-rc.d
    POLICY_RC_ADDED=false
  fi
}

start_postgres() {
  if [[ -n "${EVENTSYNC_PG_URL:-}" ]]; then
    echo "using the PostgreSQL server given in EVENTSYNC_PG_URL"
    return 0
  fi
  if ! PG_BIN=$(find_pg_bin); then
    is_ci && die "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin)"
    warn "PostgreSQL is not installed: the PostgreSQL tests will skip"
    return 0
  fi

  PG_ROOT=$(mktemp -d /tmp/eventsync-pg.XXXXXX)
  if ((EUID == 0)); then
    # initdb and postgres refuse to run as root.
    id -u postgres >/dev/null 2>&1 || die "running as root needs the system user 'postgres' (from the postgresql package)"
    chown postgres: "$PG_ROOT"
    PG_AS=(runuser -u postgres --)
  fi
  "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_ROOT/data" -A trust -U postgres -E UTF8 --no-sync >"$PG_ROOT/initdb.log" 2>&1 ||
    { cat "$PG_ROOT/initdb.log" >&2; die "initdb failed"; }

  local port=$PG_FIRST_PORT attempts=0
  while ((attempts < 10 && port < PG_FIRST_PORT + 200)); do
    if port_in_use "$port"; then
      port=$((port + 1))
      continue
    fi
    attempts=$((attempts + 1))
    # fsync=off: a throwaway server, so durability across an OS crash is not worth the time.
    if "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/server.log" -w -t 60 \
      -o "-p $port -k $PG_ROOT -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null; then
      export EVENTSYNC_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
      echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $PG_ROOT)"
      return 0
    fi
    # Most likely another process took the port between the probe and the start: try the next one.
    tail -n 5 "$PG_ROOT/server.log" >&2 || true
    port=$((port + 1))
  done
  die "could not start PostgreSQL (log above)"
}

check_postgres() {
  [[ -n "${EVENTSYNC_PG_URL:-}" ]] || return 0
  local psql=psql
  [[ -n "$PG_BIN" ]] && psql="$PG_BIN/psql"
  if ! command -v "$psql" >/dev/null 2>&1; then
    warn "psql not found; not checking $EVENTSYNC_PG_URL"
    return 0
  fi
  local answer
  answer=$("$psql" -X -tA -v ON_ERROR_STOP=1 "$EVENTSYNC_PG_URL" -c 'select 1') ||
    die "PostgreSQL at $EVENTSYNC_PG_URL does not answer"
  echo "psql $EVENTSYNC_PG_URL -c 'select 1' -> $answer"
}

section "Installing dependencies (node $(node --version), pnpm $(pnpm --version))"
pnpm_install

install_system_packages

section "Starting PostgreSQL"
start_postgres
check_postgres

if [[ -z "${EVENTSYNC_CHROMIUM:-}" && -x /usr/bin/chromium ]]; then
  export EVENTSYNC_CHROMIUM=/usr/bin/chromium
fi
if [[ -n "${EVENTSYNC_CHROMIUM:-}" ]]; then
  echo "Chromium: $EVENTSYNC_CHROMIUM"
else
  warn "Chromium not found: the browser tests will skip"
fi

section "Build"
pnpm run build

section "Typecheck"
pnpm run typecheck

section "Lint"
pnpm run lint

# Every exported symbol and member must have TSDoc; a TSDoc link that resolves to nothing, or an
# exported API that refers to an unexported type, fails too (typedoc.json's `validation`, also under
# `packageOptions`, which packages mode needs), and so does any other typedoc warning. Nothing is
# written: `pnpm docs:api` renders it.
section "API reference (typedoc)"
pnpm run docs:api --emit none --treatWarningsAsErrors

section "Test"
status=0
pnpm exec vitest run "$@" || status=$?

section "Done: vitest exited with $status"
exit "$status"
