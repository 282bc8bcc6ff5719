"""Classify a complaint into a priority by policy rules and the customer's tier."""

from __future__ import annotations

from dataclasses import dataclass

from domain.policy import ClassificationRule, ComplaintPolicy, Tier


@dataclass(frozen=True)
class Classification:
    priority: str
    reason: str


def classify(
    policy: ComplaintPolicy,
    *,
    tier: Tier,
    channel: str | None,
    category: str | None,
    text: str,
    requested: str | None = None,
) -> Classification:
    """Return the priority: the caller's if given, else the first matching rule, raised by tier."""
    if requested is not None:
        if requested not in policy.priorities:
            raise ValueError(f"unknown priority {requested!r}; one of {policy.priorities}")
        return Classification(requested, "set by the caller")
    priority, reason = policy.default_priority, "default priority"
    lowered = text.lower()
    for rule in policy.classification:
        if _matches(rule, tier=tier, channel=channel, category=category, lowered=lowered):
            priority, reason = rule.priority, f"rule {rule.name!r}"
            break
    raise_by = policy.tiers[tier].raise_priority if tier in policy.tiers else 0
    if raise_by:
        index = max(policy.priorities.index(priority) - raise_by, 0)
        if policy.priorities[index] != priority:
            priority = policy.priorities[index]
            reason += f", raised for tier {tier.value}"
    return Classification(priority, reason)


def _matches(
    rule: ClassificationRule, *, tier: Tier, channel: str | None, category: str | None,
    lowered: str,
) -> bool:
    """Whether the complaint (its text lowered) meets each of the rule's conditions; the
    keywords, the dearest to check, last."""
    return ((not rule.channels or channel in rule.channels)
            and (not rule.categories or category in rule.categories)
            and (not rule.tiers or tier in rule.tiers)
            and (not rule.keywords_any
                 or any(k.lower() in lowered for k in rule.keywords_any)))
