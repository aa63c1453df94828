-- One Postgres, two databases: Prefect's and MLflow's.
CREATE DATABASE prefect OWNER dreamprm;
CREATE DATABASE mlflow OWNER dreamprm;
