"""Pure pieces: local days, periods, delivery-time buckets and the median read from them."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.stats.counters import BUCKETS, bucket_bounds, bucket_of, local_day, median_seconds
from app.stats.reports import period_of, periods


def test_local_day_is_asia_ho_chi_minh() -> None:
    assert local_day(datetime(2026, 11, 25, 16, 59, tzinfo=UTC)) == date(2026, 11, 25)
    assert local_day(datetime(2026, 11, 25, 17, 0, tzinfo=UTC)) == date(2026, 11, 26)
    assert local_day(datetime(2025, 12, 31, 17, 1)) == date(2026, 1, 1)  # naive = UTC (SQLite)


def test_period_labels_and_ranges() -> None:
    d = date(2026, 11, 26)
    assert [period_of(d, g) for g in ("day", "month", "quarter", "year")] == [
        "2026-11-26",
        "2026-11",
        "2026-Q4",
        "2026",
    ]
    assert periods(date(2025, 11, 15), date(2026, 2, 1), "month") == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]
    assert periods(date(2025, 12, 31), date(2026, 1, 1), "quarter") == ["2025-Q4", "2026-Q1"]
    assert periods(date(2024, 2, 28), date(2024, 3, 1), "day") == [
        "2024-02-28",
        "2024-02-29",
        "2024-03-01",
    ]
    assert periods(date(2024, 5, 5), date(2026, 1, 1), "year") == ["2024", "2025", "2026"]


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0, 0), (-3, 0), (0.0099, 0), (0.01, 1), (0.0141, 1), (0.0142, 2), (1.0, 14), (1e12, 59)],
)
def test_bucket_edges(seconds: float, bucket: int) -> None:
    assert bucket_of(seconds) == bucket
    low, high = bucket_bounds(bucket)
    assert low <= max(seconds, 0) < high


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=30 * 86400), min_size=1, max_size=60))
def test_median_from_histogram_is_within_its_bucket(values: list[float]) -> None:
    histogram = [0] * BUCKETS
    for v in values:
        histogram[bucket_of(v)] += 1
    exact = sorted(values)[(len(values) + 1) // 2 - 1]  # the lower median, as documented
    estimate = median_seconds(histogram)
    assert estimate is not None
    low, high = bucket_bounds(bucket_of(exact))
    assert low - 0.001 <= estimate <= high + 0.001
    if bucket_of(exact) > 0:
        # within a factor sqrt(2) of the exact median (plus rounding to the millisecond)
        assert estimate / exact <= math.sqrt(2) + 0.01 and exact / estimate <= math.sqrt(2) + 0.01


def test_median_of_nothing_and_of_zeros() -> None:
    assert median_seconds([0] * BUCKETS) is None
    assert median_seconds([5] + [0] * (BUCKETS - 1)) == 0.0
    hist = [0] * BUCKETS
    for v in (1.0, 2.0, 100.0):
        hist[bucket_of(v)] += 1
    value = median_seconds(hist)
    assert value is not None and 1.4 <= value <= 2.9
    assert statistics.median([1.0, 2.0, 100.0]) == 2.0
