"""Prefect flows: they orchestrate tasks and decide nothing."""
