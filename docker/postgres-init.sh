#!/bin/sh
# First start of an empty data volume (docker-entrypoint-initdb.d): a role and a database
# per component (postgres-init.sql), with the passwords of the container's environment.
set -eu
for name in POSTGRES_PASSWORD REGISTRY_DB_PASSWORD DAGSTER_DB_PASSWORD MLFLOW_DB_PASSWORD \
  FEAST_DB_PASSWORD; do
  eval "value=\${$name:-}"
  case "$value" in
    "" | *change-me*)
      echo "postgres-init: $name is empty or the placeholder of docker/.env.example; set it in docker/.env" >&2
      exit 64 ;;
  esac
done
psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres -v prefix= \
  -v registry_password="$REGISTRY_DB_PASSWORD" -v dagster_password="$DAGSTER_DB_PASSWORD" \
  -v mlflow_password="$MLFLOW_DB_PASSWORD" -v feast_password="$FEAST_DB_PASSWORD" \
  -f /etc/trade2026/postgres-init.sql
