"""The one back-off of every node's retries (p2p.backoff)."""

from p2p.backoff import Backoff


def test_the_delay_doubles_per_failure_up_to_the_most():
    backoff = Backoff(first=0.5, most=3.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
