"""PDCA improvement cycles in the service: their commands, the KPI a check measures, and
the endpoints. The rules are in `domain/pdca/`.
"""
