"""Each process in the service, one package per process: its own tables, its commands,
the hooks it lends the engine, its endpoints and its Prefect flows.

Its pure rules (stages, transition table, timers, policy) are in the package of the
same name under `domain/`; `processes.registry` lists every process's hooks and
endpoints explicitly.
"""
