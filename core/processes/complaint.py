"""Complaints' store adapter: a complaint that closes opens its satisfaction follow-up.

Closure happens on a client's event (`confirm`, `withdraw`) and on the `auto_close`
timer; both paths call this adapter in the closing transaction. Which closing events
start a follow-up is policy (`followup.after.complaint`: confirm and auto_close; a
withdrawn complaint gets no survey, since the customer took it back).
"""

from core.followups import after_closure as after_decision

__all__ = ["after_decision"]
