"""Service requests across channels: the policy, locations and booking slots, hand-offs
between channels, and the transition table.
"""
