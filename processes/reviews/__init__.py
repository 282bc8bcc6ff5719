"""Periodic reviews and the improvement backlog in the service: the scheduled runs, their
figures and publication, the findings they raise, the reports, trends and backlog
endpoints, and the Prefect flow a cron deployment runs. The pure parts (periods, review
policy, report layout) are in `domain/reviews/`.
"""
