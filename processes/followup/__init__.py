"""Satisfaction follow-up (回访) in the service: the follow-ups a closed case starts, the
survey links, the survey page and its endpoints. The rules are in `domain/followup/`.
"""
