"""A lookup remembers the contacts answers name (bns/lookups.py `_decoded`): whatever the
item, and however often it comes, the answer is `Contact.from_wire`'s."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.bns.lookups import _decoded
from badgechain.bns.routing import Contact

KEYS = st.sampled_from([bytes(32), b"\x01" * 32, b"\x02" * 31])
HOSTS = st.sampled_from(["10.0.0.1", "::1", "example.org", "10.0.0.256", ""])
PORTS = st.one_of(st.sampled_from([0, 1, 65535, 65536, True, False, 1.0]), st.integers())
NONCES = st.sampled_from([bytes(8), b"\x01" * 8, bytes(7), "x" * 8])
ITEMS = st.one_of(
    st.lists(st.one_of(KEYS, HOSTS, PORTS, NONCES), max_size=5),
    st.tuples(KEYS, HOSTS, PORTS, NONCES).map(list),
    st.just(None),
    st.tuples(KEYS, HOSTS, PORTS, NONCES),  # a tuple is not a list on the wire
)


def _same(a: Contact | None, b: Contact | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b and a.id == b.id and type(a.port) is type(b.port)


@settings(max_examples=300, deadline=None)
@given(st.lists(ITEMS, max_size=20))
def test_a_remembered_contact_is_the_one_decoded_afresh(items: list[Any]) -> None:
    for item in items + items:  # the second time, from memory
        assert _same(_decoded(item), Contact.from_wire(item))


def test_a_bool_port_is_refused_after_the_same_int_port_was_accepted() -> None:
    good = [b"\x03" * 32, "10.0.0.9", 1, bytes(8)]
    assert _decoded(good) is not None
    assert _decoded([b"\x03" * 32, "10.0.0.9", True, bytes(8)]) is None
