#!/bin/sh
# The image's entrypoint: `switchboard` with the container's arguments (default: `serve`), after
# the migrations when MIGRATE_ON_START=true. Compose leaves it false and runs them once in its
# `migrate` service instead, so that replicas starting together never race on them.
set -eu

if [ "$#" -eq 0 ]; then
  set -- serve
fi

if [ "$1" = serve ]; then
  # Every replica must sign and check with the same keys: one generated per container (the
  # default outside containers) would make each replica reject the others' tokens and webhooks.
  : "${JWT_SECRET:?is required to serve from the image (32 characters or more)}"
  : "${WEBHOOK_SECRET:?is required to serve from the image (32 characters or more)}"
fi

case "${MIGRATE_ON_START:-false}" in
  true) switchboard migrate ;;
  false) ;;
  *) echo "switchboard-entrypoint: MIGRATE_ON_START must be true or false" >&2; exit 2 ;;
esac

exec switchboard "$@"
