"""The engine every process runs on: the store, clocks, timers, claims, the sweeper and
delivery.

It knows processes only through `domain.catalogue` (their pure rules) and the hooks the
service hands it on the runtime (`processes.registry`); it imports nothing of the API,
the flows or the processes' own code.
"""
