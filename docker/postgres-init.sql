-- One PostgreSQL for the stack, one database per service. Run by the postgres image on the first start with an
-- empty data volume, as POSTGRES_USER (the owner of all three); the password comes from the environment.
CREATE DATABASE labelstudio;
CREATE DATABASE mlflow;
CREATE DATABASE prefect;
