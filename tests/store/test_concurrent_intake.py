"""Concurrent requests: the same new customer, the same Idempotency-Key."""

from concurrent.futures import ThreadPoolExecutor

from sqlmodel import Session, func, select

from core.models import Case, Customer
from tests.store.helpers import open_complaint


def test_a_new_customer_complaining_twice_at_once_is_one_customer(make_runtime):
    rt = make_runtime()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda n: open_complaint(rt, ref="new-customer",
                                                     subject=f"complaint {n}"), range(16)))
    assert len(set(ids)) == 16
    with Session(rt.engine) as session:
        assert session.exec(select(func.count()).select_from(Customer)).one() == 1


def test_the_same_idempotency_key_at_once_opens_one_case(make_runtime):
    rt = make_runtime()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda n: open_complaint(rt, ref="c1", key="retry-1"),
                            range(16)))
    assert len(set(ids)) == 1
    with Session(rt.engine) as session:
        assert session.exec(select(func.count()).select_from(Case)).one() == 1
