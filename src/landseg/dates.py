"""Dates of acquisition: parsed from the CLI's ``--datetime`` and from TIFF/ISO tags (for mosaics and STAC)."""

from __future__ import annotations

import datetime as dt


def parse_datetime(text: str) -> dt.datetime:
    """An ISO 8601 date or date-time (``2023-05-17``, ``2023-05-17T10:30:00Z``) or a TIFF ``YYYY:MM:DD HH:MM:SS``
    time, as an aware UTC datetime (a time without a zone is taken as UTC); :class:`ValueError` otherwise."""
    s = text.strip()
    if len(s) >= 19 and s[4] == ":" and s[7] == ":":  # TIFF DateTime
        s = s[:4] + "-" + s[5:7] + "-" + s[8:]
    when = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)
