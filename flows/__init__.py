"""The layer that composes services. Importing it turns Prefect's and MLflow's telemetry off by default (before
either library is imported by a flow module): see flows/prefect_env.py."""
from flows.prefect_env import telemetry_off

telemetry_off()
