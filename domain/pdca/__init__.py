"""PDCA improvement cycles: plan checks, the transition table and the verdict.
"""
