"""Clock parsing, office time zones, working days and due times."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import holidays
import pytest

pytestmark = pytest.mark.no_database

from ikuflow.calendar import (Overrides, due_at, fmt_local, fmt_span, is_working_day, parse_at,
                              parse_date, working_days_before, zone)
from ikuflow.definition.model import Deadline
from ikuflow.errors import UsageError

#: Monday after Idul Fitri 2026: Nyepi 18-19 March, cuti bersama 20, 23, 24 March, Idul Fitri
#: 21-22 March (a weekend), per holidays.Indonesia(categories=("public", "government")).
AFTER_LEBARAN = date(2026, 3, 30)


# --- parse_at ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("2026-01-27T10:00+07:00", datetime(2026, 1, 27, 3, 0)),
    ("2026-01-27T10:00:00+09:00", datetime(2026, 1, 27, 1, 0)),
    ("2026-01-27T03:00Z", datetime(2026, 1, 27, 3, 0)),
    ("2026-01-27T03:00:30Z", datetime(2026, 1, 27, 3, 0, 30)),
    ("  2026-01-27T10:00+07:00 ", datetime(2026, 1, 27, 3, 0)),
])
def test_parse_at_with_offset_or_z(text, expected):
    got = parse_at(text)
    assert got == expected
    assert got.tzinfo is None


def test_parse_at_naive_is_local_to_jakarta_by_default():
    assert parse_at("2026-01-27 10:00") == datetime(2026, 1, 27, 3, 0)
    assert parse_at("2026-01-27T10:00") == datetime(2026, 1, 27, 3, 0)


@pytest.mark.parametrize("tz,hour", [("Asia/Jayapura", 1), ("WITA", 2), ("UTC", 10)])
def test_parse_at_naive_follows_ikuflow_tz(monkeypatch, tz, hour):
    monkeypatch.setenv("IKUFLOW_TZ", tz)
    assert parse_at("2026-01-27 10:00") == datetime(2026, 1, 27, hour, 0)
    # an explicit offset ignores IKUFLOW_TZ
    assert parse_at("2026-01-27T10:00+07:00") == datetime(2026, 1, 27, 3, 0)


def test_parse_at_bare_date_is_local_midnight():
    assert parse_at("2026-01-27") == datetime(2026, 1, 26, 17, 0)


def test_parse_at_bare_date_in_another_zone(monkeypatch):
    monkeypatch.setenv("IKUFLOW_TZ", "Asia/Jayapura")
    assert parse_at("2026-01-27") == datetime(2026, 1, 26, 15, 0)


def test_parse_at_none_is_now():
    before = datetime.now(timezone.utc).replace(tzinfo=None)
    got = parse_at(None)
    after = datetime.now(timezone.utc).replace(tzinfo=None)
    assert got.tzinfo is None
    assert before <= got <= after


@pytest.mark.parametrize("text", ["2026-02-30", "yesterday", "2026-13-01", "", "27/01/2026",
                                  "2026-01-27T25:00"])
def test_parse_at_rejects_invalid_values(text):
    with pytest.raises(UsageError) as exc:
        parse_at(text)
    assert exc.value.exit_code == 2
    assert f"'{text}' is not a valid date-time" in str(exc.value)
    assert "2026-01-27T10:00+07:00" in str(exc.value)  # says how to write it


def test_parse_at_with_an_unknown_ikuflow_tz_is_a_usage_error(monkeypatch):
    monkeypatch.setenv("IKUFLOW_TZ", "Mars/Olympus")
    with pytest.raises(UsageError):
        parse_at("2026-01-27 10:00")


def test_parse_date():
    assert parse_date("2026-01-28") == date(2026, 1, 28)
    with pytest.raises(UsageError) as exc:
        parse_date("2026-02-30", "signing date")
    assert exc.value.exit_code == 2 and "not a valid signing date" in str(exc.value)


# --- zones ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,key", [("WIB", "Asia/Jakarta"), ("WITA", "Asia/Makassar"),
                                      ("WIT", "Asia/Jayapura"), ("wita", "Asia/Makassar"),
                                      ("Asia/Makassar", "Asia/Makassar")])
def test_zone_aliases(name, key):
    assert zone(name).key == key


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "/etc/localtime",
                                  "Asia/Jakarta/"])
def test_zone_rejects_unknown_names(name):
    with pytest.raises(UsageError) as exc:
        zone(name)
    assert exc.value.exit_code == 2
    assert "unknown time zone" in str(exc.value) and "Asia/Jakarta" in str(exc.value)


def test_zone_rejects_a_region_folder_name():
    """'Asia' is a folder of the zone database, not a zone: still a usage error (exit 2),
    not an OSError traceback."""
    with pytest.raises(UsageError):
        zone("Asia")


# --- working days --------------------------------------------------------------------------------
def test_the_2026_holidays_this_file_relies_on():
    h = holidays.Indonesia(years=2026, categories=("public", "government"))
    for d in (date(2026, 3, 18), date(2026, 3, 19), date(2026, 3, 20), date(2026, 3, 23),
              date(2026, 3, 24)):
        assert d in h, d
    for d in (date(2026, 3, 16), date(2026, 3, 17), date(2026, 3, 25), date(2026, 3, 26),
              date(2026, 3, 27), date(2026, 3, 30)):
        assert d not in h and d.weekday() < 5, d


def test_working_days_before_skip_weekends_and_public_holidays():
    # Mon 30 back: Fri 27, Thu 26, Wed 25, (Tue 24, Mon 23 cuti bersama, weekend,
    # Fri 20 cuti bersama, Thu 19 Nyepi, Wed 18 cuti bersama), Tue 17, Mon 16
    got = [working_days_before(AFTER_LEBARAN, n) for n in range(6)]
    assert got == [date(2026, 3, 30), date(2026, 3, 27), date(2026, 3, 26), date(2026, 3, 25),
                   date(2026, 3, 17), date(2026, 3, 16)]


def test_working_days_before_plain_week_skips_the_weekend():
    assert working_days_before(date(2026, 1, 28), 5) == date(2026, 1, 21)
    assert working_days_before(date(2026, 2, 2), 1) == date(2026, 1, 30)  # Mon -> Fri


def test_zero_days_before_a_non_working_day_is_the_last_working_day():
    assert working_days_before(date(2026, 3, 23), 0) == date(2026, 3, 17)
    assert working_days_before(date(2026, 1, 31), 0) == date(2026, 1, 30)  # Saturday -> Friday


def test_extra_days_off_and_on_from_a_calendar_file():
    off = Overrides(off=frozenset({date(2026, 1, 27)}))
    assert not is_working_day(date(2026, 1, 27), off)
    assert is_working_day(date(2026, 1, 27))
    assert working_days_before(date(2026, 1, 28), 1, off) == date(2026, 1, 26)
    on = Overrides(on=frozenset({date(2026, 1, 24)}))  # a Saturday made a working day
    assert is_working_day(date(2026, 1, 24), on)
    assert working_days_before(date(2026, 1, 26), 1, on) == date(2026, 1, 24)
    assert working_days_before(date(2026, 1, 26), 1) == date(2026, 1, 23)


def test_working_days_across_new_year():
    # 1 January 2026 is a holiday, 2 January a Friday
    assert working_days_before(date(2026, 1, 5), 1) == date(2026, 1, 2)
    assert working_days_before(date(2026, 1, 5), 2) == date(2025, 12, 31)


# --- due_at --------------------------------------------------------------------------------------
def test_due_at_in_the_office_zone():
    dl = Deadline(days_before=5, unit="working_days", at=time(16, 0))
    jakarta = due_at(AFTER_LEBARAN, dl, "Asia/Jakarta")
    jayapura = due_at(AFTER_LEBARAN, dl, "Asia/Jayapura")
    assert jakarta == datetime(2026, 3, 16, 9, 0)
    assert jayapura == datetime(2026, 3, 16, 7, 0)
    assert due_at(AFTER_LEBARAN, dl, "WITA") == datetime(2026, 3, 16, 8, 0)
    assert jakarta - jayapura == timedelta(hours=2)
    assert jakarta.tzinfo is None


def test_due_at_calendar_days_does_not_skip_holidays():
    # 7 calendar days before Mon 30 March is Mon 23 March, a cuti bersama day
    dl = Deadline(days_before=7, unit="calendar_days", at=time(16, 0))
    assert due_at(AFTER_LEBARAN, dl, "Asia/Jakarta") == datetime(2026, 3, 23, 9, 0)
    working = Deadline(days_before=7, unit="working_days", at=time(16, 0))
    assert due_at(AFTER_LEBARAN, working, "Asia/Jakarta") == datetime(2026, 3, 12, 9, 0)


def test_due_at_uses_the_deadline_time_of_day():
    dl = Deadline(days_before=0, at=time(9, 30))
    assert due_at(date(2026, 1, 28), dl, "Asia/Jakarta") == datetime(2026, 1, 28, 2, 30)


# --- showing times -------------------------------------------------------------------------------
@pytest.mark.parametrize("tz,shown", [("Asia/Jakarta", "2026-01-21 16:00 WIB"),
                                      ("Asia/Makassar", "2026-01-21 17:00 WITA"),
                                      ("Asia/Jayapura", "2026-01-21 18:00 WIT")])
def test_fmt_local_names_the_indonesian_zone(tz, shown):
    assert fmt_local(datetime(2026, 1, 21, 9, 0), tz) == shown


def test_fmt_local_none_is_empty():
    assert fmt_local(None, "Asia/Jakarta") == ""


@pytest.mark.parametrize("delta,text", [(timedelta(days=2, hours=3), "2d 3h"),
                                        (timedelta(hours=5, minutes=10), "5h 10m"),
                                        (timedelta(minutes=12), "12m"),
                                        (-timedelta(hours=1), "1h 0m")])
def test_fmt_span(delta, text):
    assert fmt_span(delta) == text
