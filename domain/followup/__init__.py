"""Satisfaction follow-up (回访): the transition table and its timers.
"""
