"""Pure domain: state machines, business-time arithmetic, SLA clocks and escalation decisions.

Nothing here does I/O or imports a framework; every function takes `now` as an argument.
"""
