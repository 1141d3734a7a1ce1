"""ISO-8601 durations as azure-ai-ml writes them (isodate): 90000 ms -> PT1M30S."""

from __future__ import annotations

from decimal import Decimal


def iso_duration_ms(milliseconds: int) -> str:
    seconds = Decimal(milliseconds) / 1000
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    date = f"{int(days)}D" if days else ""
    time = "".join(
        f"{_plain(v)}{unit}" for v, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if v
    )
    if not date and not time:
        return "PT0S"
    return f"P{date}" + (f"T{time}" if time else "")


def iso_duration_s(seconds: int) -> str:
    return iso_duration_ms(seconds * 1000)


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text
