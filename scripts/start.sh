#!/usr/bin/env bash
# `pnpm start`: installs, builds, then runs the quickstart example.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

EXAMPLE=examples/quickstart
[[ -d "$EXAMPLE" ]] || die "$EXAMPLE does not exist yet, so there is nothing to start"

section "Installing dependencies"
pnpm_install

section "Build"
pnpm run build

section "Starting $EXAMPLE"
exec "${PNPM_CMD[@]}" --filter "./$EXAMPLE" start
