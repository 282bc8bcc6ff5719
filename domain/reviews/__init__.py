"""Periodic reviews: periods and statuses, the review policy and the report layout.
"""
