"""Working days, office time zones and due-time arithmetic.

Times in the database are naive UTC datetimes; times shown to people are in the office's zone.
Working days skip weekends and Indonesian public holidays and collective leave (cuti bersama,
from the ``holidays`` package), plus extra dates the caller passes (a calendar file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ikuflow.definition.model import Deadline
from ikuflow.errors import UsageError

UTC = timezone.utc
ZONE_NAMES = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}
#: The clock (``--at``) must lie in these years: wide enough for planning and back-filling,
#: narrow enough that due times, reminders and escalations computed from it stay in range.
CLOCK_YEARS = (1970, 2999)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for ``name``; UsageError (exit 2) for an unknown zone."""
    alias = {"WIB": "Asia/Jakarta", "WITA": "Asia/Makassar", "WIT": "Asia/Jayapura"}.get(name.upper(), name)
    try:
        if not alias or alias.startswith(("/", ".")) or ".." in alias:
            raise ValueError(alias)
        return ZoneInfo(alias)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: 'Asia' is a folder
        raise UsageError(f"unknown time zone '{name}'; use WIB, WITA, WIT or an IANA name such "
                         "as Asia/Jakarta") from None


def default_zone() -> ZoneInfo:
    """The zone for clock values written without an offset (IKUFLOW_TZ, default WIB)."""
    return zone(os.environ.get("IKUFLOW_TZ", "Asia/Jakarta"))


def now_utc() -> datetime:
    """Now, as a naive UTC datetime (how times are stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def parse_at(text: str | None) -> datetime:
    """Parse an ``--at`` value into naive UTC; None means now.

    Accepts ISO 8601 with or without an offset (``2026-01-27T10:00+07:00``,
    ``2026-01-27 10:00``) or a bare date (midnight). Without an offset the time is local to
    IKUFLOW_TZ (default Asia/Jakarta).
    """
    if text is None:
        return now_utc()
    raw = text.strip()
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise UsageError(f"'{text}' is not a valid date-time; write it like "
                         "2026-01-27T10:00+07:00 or 2026-01-27") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_zone())
    lo, hi = CLOCK_YEARS
    try:
        utc = dt.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31T23:59 west of it
        utc = None
    if utc is None or not lo <= utc.year <= hi:
        raise UsageError(f"'{text}' is out of range; give a date-time between {lo} and {hi}, "
                         "like 2026-01-27T10:00+07:00") from None
    return utc


def parse_date(text: str, what: str = "date") -> date:
    """A YYYY-MM-DD date; UsageError (exit 2) naming ``what`` otherwise."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"'{text}' is not a valid {what}; write it like 2026-01-28") from None


def to_local(utc_naive: datetime, tz: str) -> datetime:
    """A naive UTC time as an aware time in the zone ``tz``."""
    return utc_naive.replace(tzinfo=UTC).astimezone(zone(tz))


@lru_cache(maxsize=8192)  # (due times repeat: a few per signing date and zone)
def fmt_local(utc_naive: datetime | None, tz: str) -> str:
    """``2026-01-21 16:00 WIB`` for people; empty for None."""
    if utc_naive is None:
        return ""
    t = to_local(utc_naive, tz)  # (no strftime: this runs for every row of an overdue list)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d} {ZONE_NAMES.get(tz) or t.tzname()}"


@lru_cache(maxsize=8192)
def iso_local(utc_naive: datetime | None, tz: str) -> str | None:
    """A naive UTC time in the zone ``tz``, ISO 8601 to the second with its offset (None stays None)."""
    return None if utc_naive is None else to_local(utc_naive, tz).isoformat(timespec="seconds")


def fmt_span(delta: timedelta) -> str:
    """A short human span: ``2d 3h``, ``5h 10m``, ``12m``."""
    secs = int(abs(delta.total_seconds()))
    d, rem = divmod(secs, 86400)
    h, m = rem // 3600, rem % 3600 // 60
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m}m"
    return f"{m}m"


@lru_cache(maxsize=32)
def _public_holidays(year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.Indonesia(years=year, categories=("public", "government")))


@dataclass(frozen=True)
class Overrides:
    """Days decreed after the ``holidays`` package knew them (the calendar file)."""

    off: frozenset[date] = frozenset()  # extra non-working days (cuti bersama, decrees)
    on: frozenset[date] = frozenset()   # days made working (a Saturday by decree)


NO_OVERRIDES = Overrides()


def is_working_day(d: date, extra: Overrides = NO_OVERRIDES) -> bool:
    """Whether ``d`` is a working day: a weekday, no public holiday, unless overridden."""
    if d in extra.on:
        return True
    return d.weekday() < 5 and d not in _public_holidays(d.year) and d not in extra.off


def working_days_before(d: date, n: int, extra: Overrides = NO_OVERRIDES) -> date:
    """The working day ``n`` working days before ``d``; ``n == 0`` is ``d`` itself if it is a
    working day, else the last working day before it."""
    cur = d
    while not is_working_day(cur, extra):
        cur -= timedelta(days=1)
    for _ in range(n):
        cur -= timedelta(days=1)
        while not is_working_day(cur, extra):
            cur -= timedelta(days=1)
    return cur


def due_at(signing_date: date, deadline: Deadline, tz: str,
           extra: Overrides = NO_OVERRIDES) -> datetime:
    """The due time (naive UTC) of a step with ``deadline`` for an office in ``tz``."""
    try:
        if deadline.unit == "calendar_days":
            day = signing_date - timedelta(days=deadline.days_before)
        else:
            day = working_days_before(signing_date, deadline.days_before, extra)
        local = datetime.combine(day, deadline.at, tzinfo=zone(tz))
        return local.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # a signing date in the first days of year 1
        raise UsageError(f"signing date {signing_date.isoformat()} is out of range: its due times "
                         "would fall before year 1; give a real signing date like 2026-01-28") from None


def load_overrides(path) -> Overrides:
    """Read a calendar file: ``non_working`` and ``working`` mappings of date to a note.

    Raises IkuflowError (exit 1) naming the file and the entry that is not a real date.
    """
    import yaml

    from ikuflow.definition.load import MAX_FILE_BYTES, FileRefused, read_regular_file
    from ikuflow.errors import IkuflowError

    try:
        text = read_regular_file(path, MAX_FILE_BYTES).decode("utf-8")
    except FileRefused as exc:
        raise IkuflowError(f"cannot read calendar file {path}: {exc}; give a calendar file (YAML, "
                           "a few KiB) or remove it") from None
    except UnicodeDecodeError as exc:
        raise IkuflowError(f"cannot read calendar file {path}: not UTF-8 text (byte {exc.start}); "
                           "save the file as UTF-8") from None
    try:
        raw = yaml.load(text, Loader=yaml.BaseLoader) or {}  # every scalar a string
    except yaml.YAMLError as exc:
        raise IkuflowError(f"cannot read calendar file {path}: {exc}") from None
    if not isinstance(raw, dict) or set(raw) - {"non_working", "working"}:
        raise IkuflowError(f"{path}: a calendar file has two mappings, non_working and working "
                           "(date: note)")
    days: dict[str, frozenset[date]] = {}
    for key in ("non_working", "working"):
        entries = raw.get(key) or {}
        if not isinstance(entries, (dict, list)):
            raise IkuflowError(f"{path}: {key} must map dates to notes, e.g. 2026-12-31: Cuti bersama")
        out = set()
        for d in entries:
            try:
                out.add(date.fromisoformat(str(d).strip()))
            except ValueError:
                raise IkuflowError(f"{path}: {key}: '{d}' is not a real date; write it like "
                                   "2026-12-31") from None
        days[key] = frozenset(out)
    both = days["non_working"] & days["working"]
    if both:
        raise IkuflowError(f"{path}: {min(both)} is listed as both working and non-working")
    return Overrides(off=days["non_working"], on=days["working"])
