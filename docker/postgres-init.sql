-- One role per component, owning its database and nothing else; no role but the owner
-- (and the superuser) may connect to it. Run by postgres-init.sh with psql variables:
-- the four passwords and `prefix` (empty in the container; tests create the same roles
-- under names of their own).
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'prefix' || name, password),
       format('CREATE DATABASE %I OWNER %I', :'prefix' || name, :'prefix' || name),
       format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'prefix' || name)
FROM (VALUES ('registry', :'registry_password'),
             ('dagster', :'dagster_password'),
             ('mlflow', :'mlflow_password'),
             ('feast', :'feast_password')) AS component (name, password)
\gexec
