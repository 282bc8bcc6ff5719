"""The same complaint process built the other ways a team would: see harness.py."""
