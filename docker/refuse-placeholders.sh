#!/bin/sh
# Refuse the placeholder secrets of docker/.env.example: a service started with them would
# run with passwords everybody knows. Every variable is checked (secrets also hide in URLs).
# With arguments, runs them once the environment passed: the servers' compose entrypoints
# (redis, nats, clickhouse) go through it; the platform's image runs it from entrypoint.sh.
set -eu
placeholder="change-me"
for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p'); do
  eval "value=\${$name-}"
  case "$value" in
    *"$placeholder"*)
      echo "entrypoint: $name holds the placeholder '$placeholder' of docker/.env.example; set a real secret in docker/.env" >&2
      exit 64 ;;
  esac
done
[ "$#" -eq 0 ] || exec "$@"
