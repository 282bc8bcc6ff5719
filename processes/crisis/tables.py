"""The crisis's own tables: which complaints (and so customers) a crisis affects, and
the compensation each customer got, at most once per crisis."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.models import _at


class CrisisLink(SQLModel, table=True):
    """A complaint linked to a crisis: by filter, by id, on arrival or by the spike."""

    __tablename__ = "crisis_links"
    __table_args__ = (
        UniqueConstraint("crisis_id", "case_id", name="uq_crisis_links_crisis_case"),
        # The compensation batch walks a crisis's customers in id order.
        Index("ix_crisis_links_crisis_customer", "crisis_id", "customer_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    crisis_id: int = Field(foreign_key="cases.id")
    case_id: int = Field(foreign_key="cases.id", index=True)
    customer_id: int | None = Field(default=None, foreign_key="customers.id")
    linked_at: datetime = _at(nullable=False)
    linked_by: str = Field(max_length=120)
    how: str = Field(max_length=12)  # filter | ids | arrival | spike


class CrisisCompensation(SQLModel, table=True):
    """What one customer got for one crisis; the unique key makes a re-run issue nothing."""

    __tablename__ = "crisis_compensations"
    __table_args__ = (
        UniqueConstraint("crisis_id", "customer_id",
                         name="uq_crisis_compensations_crisis_customer"),
    )
    id: int | None = Field(default=None, primary_key=True)
    crisis_id: int = Field(foreign_key="cases.id")
    customer_id: int = Field(foreign_key="customers.id")
    kind: str = Field(max_length=20)  # coupon | points | free_service
    value: float
    run: int  # which start_compensation of the crisis issued it
    issued_at: datetime = _at(nullable=False)
