#!/bin/sh
# The container's role: the first argument. Every setting comes from the environment
# (see docker/.env.example and the README's settings tables).
set -eu

# The example's placeholder secrets are refused before anything starts.
sh "$(dirname "$0")/refuse-placeholders.sh"

role="${1:-registry}"
shift || true
case "$role" in
  registry)
    exec python -m registry_service serve --host 0.0.0.0 --port 8350 \
      --workers "${REGISTRY_WORKERS:-2}" "$@" ;;
  relay)
    exec python -m registry_service relay "$@" ;;
  code-server)
    exec dagster code-server start --host 0.0.0.0 --port 4000 \
      --module-name trade2026_assets.definitions --attribute defs "$@" ;;
  webserver)
    exec dagster-webserver --host 0.0.0.0 --port 3070 --workspace /app/dagster/workspace.yaml "$@" ;;
  daemon)
    exec dagster-daemon run --workspace /app/dagster/workspace.yaml "$@" ;;
  serving)
    cd /app/serving
    exec bentoml serve --host 0.0.0.0 --port 3000 "$@" ;;
  feast)
    cd /app/feature_repo
    exec feast --feature-store-yaml feature_store.production.yaml serve --host 0.0.0.0 \
      --port 6566 "$@" ;;
  mlflow)
    # Serving's read-only user, before the server (whose basic-auth app creates the admin).
    python "$(dirname "$0")/mlflow_users.py"
    exec mlflow server --app-name basic-auth --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \
      --artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION:-/var/lib/trade2026/mlflow-artifacts}" \
      --serve-artifacts --host 0.0.0.0 --port 5000 --workers "${MLFLOW_WORKERS:-2}" \
      --allowed-hosts "${MLFLOW_ALLOWED_HOSTS:-mlflow,mlflow:5000,localhost:5000,127.0.0.1:5000}" \
      "$@" ;;
  *)
    # Anything else runs as given (a run worker launched by Dagster's DockerRunLauncher
    # passes its own command, `dagster api execute_run …`).
    exec "$role" "$@" ;;
esac
