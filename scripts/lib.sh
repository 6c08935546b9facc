# shellcheck shell=bash
# Shared by scripts/test.sh and scripts/start.sh (sourced, not run).

SCRIPT_START=$SECONDS

# Prints a section header with the seconds elapsed since the script started.
section() {
  printf '\n==> %s [%ss]\n' "$*" "$((SECONDS - SCRIPT_START))"
}

warn() {
  printf 'WARNING: %s\n' "$*" >&2
}

die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}

is_ci() {
  [[ "${CI:-}" == "true" || "${CI:-}" == "1" ]]
}

# The pnpm to use: $PNPM, else the pnpm running this script (`pnpm test` sets npm_execpath), else pnpm 10 via npx.
if [[ -n "${PNPM:-}" ]]; then
  read -r -a PNPM_CMD <<<"$PNPM"
elif [[ "${npm_execpath:-}" == *pnpm* && -f "${npm_execpath}" ]]; then
  case "$npm_execpath" in
    *.js | *.cjs | *.mjs) PNPM_CMD=(node "$npm_execpath") ;;
    *) PNPM_CMD=("$npm_execpath") ;;
  esac
else
  PNPM_CMD=(npx -y pnpm@10)
fi

pnpm() {
  "${PNPM_CMD[@]}" "$@"
}

# Installs the workspace from the lockfile; outside CI a stale lockfile falls back to a plain install.
pnpm_install() {
  # confirmModulesPurge=false: never stop at a prompt when node_modules was made by another pnpm or layout.
  if pnpm install --frozen-lockfile --config.confirmModulesPurge=false; then
    return 0
  fi
  if is_ci; then
    die "pnpm install --frozen-lockfile failed (in CI the lockfile must match package.json)"
  fi
  warn "pnpm install --frozen-lockfile failed; running a plain install (commit the updated pnpm-lock.yaml)"
  pnpm install --config.confirmModulesPurge=false
}
