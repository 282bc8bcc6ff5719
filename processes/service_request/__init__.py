"""Service requests across channels in the service: bookings, hand-offs and their
endpoints. The rules are in `domain/service_request/`.
"""
