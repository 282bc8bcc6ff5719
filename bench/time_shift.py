"""Move every time a store holds earlier: the live storm's cases as if opened earlier.

The live storm is seeded with its deadlines a quarter of an hour away, so that nothing
falls due while the service starts and its Prefect API warms up, however long that
takes on a loaded machine. Once the service is ready, the store's times are moved back
together (cases, clocks, timers, timeline, outbox, team members' last assignments):
each case's clocks then have run as long as if it had been opened that much earlier,
and its timers fall due that much sooner. The service, which keeps nothing of them in
memory, finds the timers due when it next looks (within its sweep interval).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, Interval, bindparam, select, text, update

from engine.models import (
    Case,
    CaseEvent,
    OutboxMessage,
    SlaClock,
    TeamMember,
    Timer,
    UtcDateTime,
    table_of,
)

TABLES = [table_of(model) for model in (Case, SlaClock, Timer, CaseEvent, OutboxMessage,
                                        TeamMember)]


def shift_times(engine: Engine, back: timedelta) -> None:
    """Move every stored time of `TABLES` `back` earlier, in one transaction."""
    with engine.begin() as conn:
        for table in TABLES:
            columns = [c for c in table.c if isinstance(c.type, UtcDateTime)]
            if not columns:
                continue
            if engine.dialect.name == "postgresql":
                # In the server: one statement a table, where a storm has tens of thousands.
                sets = ", ".join(f'"{c.name}" = "{c.name}" - :back' for c in columns)
                conn.execute(text(f'UPDATE "{table.name}" SET {sets}')
                             .bindparams(bindparam("back", type_=Interval())), {"back": back})
                continue
            # SQLite keeps times as text: read, move and write back each row.
            keys = [c for c in table.primary_key.columns]
            rows = conn.execute(select(*keys, *columns)).all()
            if not rows:
                continue
            statement = update(table).where(
                *(k == bindparam(f"key_{k.name}") for k in keys)).values(
                {c.name: bindparam(c.name, type_=c.type) for c in columns})
            conn.execute(statement, [
                {**{f"key_{k.name}": row._mapping[k] for k in keys},
                 **{c.name: (row._mapping[c] - back if row._mapping[c] is not None else None)
                    for c in columns}}
                for row in rows])
