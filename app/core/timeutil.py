"""Times: stored in UTC, shown and bucketed in Asia/Ho_Chi_Minh (SPEC sections 3 and 9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

# Asia/Ho_Chi_Minh, the one definition: UTC+7 without daylight saving since 1975 (named "+07"
# as tzdata names it), as edXML defines its times; a fixed offset needs no tzdata.
LOCAL_TZ = timezone(timedelta(hours=7), "+07")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Databases hand back naive datetimes on SQLite; every stored time is UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat().replace("+00:00", "Z")
