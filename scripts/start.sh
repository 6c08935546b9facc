#!/usr/bin/env bash
# `pnpm start`: installs, builds, then serves the sync endpoint and the todo PWA (examples/todo-pwa) from
# one origin: `eventsync serve --static examples/todo-pwa/dist` on ./data/eventsync.db (git-ignored) at
# http://127.0.0.1:8787, with a demo token kept in ./data/demo-token. It prints the link to open, which
# hands the token to the app.
# Extra arguments go to `eventsync serve` (e.g. `pnpm start --cors '*'`); EVENTSYNC_PORT and
# EVENTSYNC_HOST change where it listens, EVENTSYNC_DATA the folder of the database and the token,
# EVENTSYNC_TOKENS replaces the demo token.
# The quickstart example runs on its own: pnpm --filter ./examples/quickstart start
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

DATA=${EVENTSYNC_DATA:-./data}
DB=$DATA/eventsync.db
PORT=${EVENTSYNC_PORT:-8787}
HOST=${EVENTSYNC_HOST:-127.0.0.1}
TOKEN_FILE=$DATA/demo-token
APP=examples/todo-pwa/dist

section "Installing dependencies"
pnpm_install

section "Build (the packages, and the todo PWA into $APP)"
pnpm run build

mkdir -p "$DATA"
if [[ -z "${EVENTSYNC_TOKENS:-}" ]]; then
  if [[ ! -s "$TOKEN_FILE" ]]; then
    (
      umask 077
      node -e "process.stdout.write(require('node:crypto').randomBytes(24).toString('base64url'))" >"$TOKEN_FILE"
    )
  fi
  TOKEN=$(<"$TOKEN_FILE")
  # Through the environment rather than --token, so the token stays out of the process list.
  export EVENTSYNC_TOKENS="default:$TOKEN"
  section "Demo token (tenant \"default\", kept in $TOKEN_FILE)"
  printf '%s\n\n' "$TOKEN"
  printf 'Try:  curl -H "Authorization: Bearer %s" http://%s:%s/v1/version\n' "$TOKEN" "$HOST" "$PORT"
  section "The todo app: open this link (it hands the token to the app), in two browsers to see them sync"
  printf 'http://%s:%s/#token=%s\n' "$HOST" "$PORT" "$TOKEN"
else
  section "The todo app"
  printf 'http://%s:%s/ (it asks for one of the tokens in EVENTSYNC_TOKENS)\n' "$HOST" "$PORT"
fi

section "Starting eventsync serve on $DB"
exec node packages/cli/dist/main.js serve --db "$DB" --port "$PORT" --host "$HOST" --static "$APP" "$@"
