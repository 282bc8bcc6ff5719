"""Caseflow's `POST /cases` body, as the reference app and the peers validate it.

Kept to pydantic alone: the bare FastAPI reference imports it and nothing heavier.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str | None = Field(default=None, max_length=120)
    name: str | None = Field(default=None, max_length=200)
    tier: Literal["A", "B", "C", "VIP"] = "C"


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20_000)
    customer: CustomerIn
    channel: str | None = Field(default=None, max_length=40)
    category: str | None = Field(default=None, max_length=80)
    priority: str | None = None
