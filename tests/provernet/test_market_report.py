"""The one percentile of the reports and benchmarks (`provernet.market_report.percentile`)."""

from provernet.market_report import percentile


def test_the_nearest_rank_percentile_is_one_of_the_values():
    assert percentile([], 50) is None
    assert percentile([3, 1, 2], 50) == 2
    assert [percentile(range(1, 101), p) for p in (1, 50, 99, 100)] == [1, 50, 99, 100]
    assert percentile([0.25, 0.5], 99) == 0.5
