"""Crisis response: the policy, the transition table and timers, the decisions on
candidates, and the notices and news the crisis publishes.
"""
