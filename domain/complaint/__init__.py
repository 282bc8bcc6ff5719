"""Complaints: classification, routing to a team member, and the transition table.
"""
