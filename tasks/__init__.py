"""Prefect tasks: typed, retried, take ids and return plain data."""
