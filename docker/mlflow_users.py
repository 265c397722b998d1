"""MLflow's basic-auth users besides the admin (which the auth app creates itself): serving's,
with MLFLOW_SERVING_PASSWORD; an existing user's password is set to it again, so changing
docker/.env rotates it. Run by entrypoint.sh before `mlflow server --app-name basic-auth`."""

import os
import sys

from mlflow.server.auth.config import read_auth_config
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

USERNAME = "serving"

password = os.environ.get("MLFLOW_SERVING_PASSWORD", "")
if not password:
    print("mlflow_users: MLFLOW_SERVING_PASSWORD is not set", file=sys.stderr)
    sys.exit(64)
store = SqlAlchemyStore()
store.init_db(read_auth_config().database_uri)
if store.has_user(USERNAME):
    store.update_user(USERNAME, password=password)
else:
    store.create_user(USERNAME, password)
print(f"mlflow_users: user '{USERNAME}' ready")
