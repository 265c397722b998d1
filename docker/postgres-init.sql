-- One database per component on the shared PostgreSQL; the owner is the superuser the
-- image creates from POSTGRES_USER/POSTGRES_PASSWORD.
CREATE DATABASE registry;
CREATE DATABASE dagster;
CREATE DATABASE mlflow;
CREATE DATABASE feast;
