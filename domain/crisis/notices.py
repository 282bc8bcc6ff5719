"""Crisis communications: notices drafted from templates, approved, then published.

A notice lives in the crisis's data as `notices[n-1]`, numbered from 1, and moves
drafted -> approved -> published. Publication goes to the channel's apprise targets
(`channel:crisis:<channel>` in the outbox, delivered as written, never in a digest).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any, Literal, overload

from domain.crisis.policy import CrisisPolicy
from domain.messages import MessageContext, local_time
from domain.process import CaseSnapshot, InvalidEvent, Notice

CHANNEL_RECIPIENT = "channel:crisis:{channel}"
MAX_TEXT = 4000


@overload
def text_field(data: Mapping[str, Any], name: str, *, required: Literal[True] = True,
               limit: int = MAX_TEXT) -> str: ...
@overload
def text_field(data: Mapping[str, Any], name: str, *, required: bool,
               limit: int = MAX_TEXT) -> str | None: ...
def text_field(data: Mapping[str, Any], name: str, *, required: bool = True,
               limit: int = MAX_TEXT) -> str | None:
    """A non-empty text of at most `limit` characters from an event's data."""
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(f"data.{name}", "a non-empty text is required")
    if len(value) > limit:
        raise InvalidEvent(f"data.{name}", f"at most {limit} characters")
    return value.strip()


def draft(case: CaseSnapshot, data: Mapping[str, Any], policy: CrisisPolicy, *,
          next_update: datetime | None, zone: tzinfo, actor: str,
          now: datetime, messages: MessageContext) -> dict[str, Any]:
    """A new notice for `data.channel`, from its template unless subject and body are given."""
    channel = data.get("channel")
    if channel not in policy.channels:
        raise InvalidEvent("data.channel", f"must be one of {sorted(policy.channels)}")
    template = policy.channels[channel]
    summary = text_field(data, "summary", required="body" not in data)
    values = {"title": case.data.get("title", ""), "severity": case.data.get("severity", ""),
              "category": messages.name(messages.language, "category", case.category),
              "summary": summary or "",
              "crisis_id": case.id,
              "next_update": local_time(next_update, zone) if next_update
              else messages.for_customers("further notice")}
    subject = text_field(data, "subject", required=False, limit=200) or messages.for_customers(
        template.subject, **values)
    body = text_field(data, "body", required=False) or messages.for_customers(
        template.body, **values)
    number = len(case.data.get("notices", [])) + 1
    drafted = {"id": number, "channel": channel, "public": template.public,
               "subject": subject[:200], "body": body, "status": "drafted",
               "drafted_by": actor, "drafted_at": now.isoformat()}
    if next_update is not None and values["next_update"] in subject + body:
        drafted["promises_update_by"] = next_update.isoformat()  # checked at publication
    return drafted


def check_promise(notice: Mapping[str, Any], now: datetime, zone: tzinfo) -> None:
    """Refuse to publish a notice whose promised next update is no longer in the future."""
    promised = notice.get("promises_update_by")
    if promised is None:
        return
    by = datetime.fromisoformat(promised)
    if by <= now:
        raise InvalidEvent("data.notice", f"notice {notice['id']} promises the next update "
                                          f"by {local_time(by, zone)}, which has passed: "
                                          "draft it again")


def find(case: CaseSnapshot, data: Mapping[str, Any], status: str) -> dict[str, Any]:
    """The notice `data.notice` names, which must be in `status`."""
    number = data.get("notice")
    notices = case.data.get("notices", [])
    if isinstance(number, bool) or not isinstance(number, int) or \
            not 1 <= number <= len(notices):
        raise InvalidEvent("data.notice", f"must name a notice of this crisis, 1 to "
                                          f"{len(notices)}")
    notice = dict(notices[number - 1])
    if notice["status"] != status:
        raise InvalidEvent("data.notice", f"notice {number} is {notice['status']}, not "
                                          f"{status}")
    return notice


def replace_notice(case: CaseSnapshot, notice: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The crisis's notices with `notice` put in its place."""
    notices = [dict(n) for n in case.data.get("notices", [])]
    notices[notice["id"] - 1] = dict(notice)
    return notices


def publication(case: CaseSnapshot, notice: Mapping[str, Any]) -> Notice:
    """The outbox message that publishes a notice on its channel, once."""
    return Notice(recipient=CHANNEL_RECIPIENT.format(channel=notice["channel"]),
                  role="channel", subject=notice["subject"], body=notice["body"],
                  key=f"crisis:{case.id}:notice:{notice['id']}")
