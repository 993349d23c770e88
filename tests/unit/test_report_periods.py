"""Period arithmetic: ISO weeks across year ends, months, quarters, DST, time zones."""

from datetime import UTC, datetime, timedelta

import pytest

from reports.periods import custom, last_complete, month, parse_period, quarter, week


def test_iso_weeks_across_the_year_end():
    w53 = parse_period("2026-W53")  # 2026 starts on a Thursday: it has 53 ISO weeks
    assert (w53.start.date().isoformat(), w53.end.date().isoformat()) == (
        "2026-12-28",
        "2027-01-04",
    )
    assert w53.previous().label == "2026-W52"
    w1 = parse_period("2027-W01")
    assert w1.start == w53.end and w1.previous() == w53
    assert parse_period("2021-W01").start.date().isoformat() == "2021-01-04"
    with pytest.raises(ValueError, match="no ISO week 53"):
        parse_period("2025-W53")


def test_months_and_quarters():
    assert parse_period("2026-12").end.date().isoformat() == "2027-01-01"
    assert parse_period("2026-03").previous().label == "2026-02"
    assert parse_period("2026-01").previous().label == "2025-12"
    q4 = parse_period("2026-Q4")
    assert (q4.start.date().isoformat(), q4.end.date().isoformat()) == ("2026-10-01", "2027-01-01")
    assert (
        q4.previous().label == "2026-Q3" and parse_period("2026-Q1").previous().label == "2025-Q4"
    )
    assert len(month(2028, 2).days()) == 29 and len(quarter(2026, 1).days()) == 90
    with pytest.raises(ValueError, match="invalid period"):
        parse_period("2026-13-01")


def test_daylight_saving_weeks_are_as_long_as_people_live_them():
    autumn = week(2026, 43, "Europe/Ljubljana")  # clocks go back on Sunday 25 October
    assert autumn.end.astimezone(UTC) - autumn.start.astimezone(UTC) == timedelta(hours=169)
    spring = week(2026, 13, "Europe/Ljubljana")  # forward on Sunday 29 March
    assert spring.end.astimezone(UTC) - spring.start.astimezone(UTC) == timedelta(hours=167)
    assert len(autumn.days()) == 7


def test_time_zones_move_the_boundaries():
    ljubljana = parse_period("2026-11", "Europe/Ljubljana")
    assert ljubljana.start.astimezone(UTC) == datetime(2026, 10, 31, 23, tzinfo=UTC)
    tokyo = parse_period("2026-11", "Asia/Tokyo")
    assert tokyo.start.astimezone(UTC) == datetime(2026, 10, 31, 15, tzinfo=UTC)


def test_the_period_a_schedule_reports_on():
    monday_9 = datetime(2026, 11, 23, 8, tzinfo=UTC)  # 09:00 in Ljubljana
    assert last_complete("week", monday_9, "Europe/Ljubljana").label == "2026-W47"
    assert last_complete("month", datetime(2026, 12, 1, 8, tzinfo=UTC), "UTC").label == "2026-11"
    assert last_complete("quarter", datetime(2027, 1, 2, tzinfo=UTC), "UTC").label == "2026-Q4"
    # 00:30 on 1 December in Ljubljana is still 30 November in UTC
    assert (
        last_complete("month", datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "Europe/Ljubljana").label
        == "2026-11"
    )


def test_custom_periods_and_pro_rating():
    p = custom(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
    assert p.previous().start == datetime(2026, 10, 22, tzinfo=UTC)
    assert p.elapsed_share(datetime(2026, 11, 6, tzinfo=UTC)) == 0.5
    assert p.elapsed_share(datetime(2027, 1, 1, tzinfo=UTC)) == 1.0
    with pytest.raises(ValueError):
        custom(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
