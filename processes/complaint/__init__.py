"""Complaints in the service: the intake that opens them fast, and what closing one starts
(its satisfaction follow-up). The rules are in `domain/complaint/`.
"""
