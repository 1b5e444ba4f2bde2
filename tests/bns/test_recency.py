"""`RoundTrips` (bns/recency.py) keeps its round trips sorted as they come and go: its median
is the one computed from scratch over the samples of the window, at any time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.bns.recency import RoundTrips

_SAMPLES, _WINDOW_S, _FIRST_RTT_S = 64, 5.0, 0.005

# (seconds since the previous event, a round trip to add or None to read the median)
EVENTS = st.lists(
    st.tuples(st.floats(0.0, 3.0), st.one_of(st.none(), st.sampled_from([0.01, 0.02, 0.5]),
                                             st.floats(0.0, 2.0))),
    max_size=200,
)  # fmt: skip


def _median(samples: list[tuple[float, float]], now: float) -> float:
    recent = sorted(rtt for at, rtt in samples[-_SAMPLES:] if at > now - _WINDOW_S)
    return recent[len(recent) // 2] if recent else _FIRST_RTT_S


@settings(max_examples=200, deadline=None)
@given(EVENTS)
def test_the_median_is_the_one_computed_from_scratch(
    events: list[tuple[float, float | None]],
) -> None:
    trips, now = RoundTrips(), 0.0
    added: list[tuple[float, float]] = []
    for gap, rtt in events:
        now += gap
        if rtt is None:
            assert trips.typical(now) == _median(added, now)
        else:
            trips.add(now, rtt)
            added.append((now, rtt))
    assert trips.typical(now) == _median(added, now)
