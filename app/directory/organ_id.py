"""OrganId (mã định danh) rules of QCVN 102:2016 and Decision 20/2020/QĐ-TTg."""

from __future__ import annotations

import re

from app.edxml import organ_id_is_valid
from app.edxml.models import MAX_ORGAN_ID

# The directory is stricter than the wire format: its own entries end in a level-1 code.
_LEVEL_1 = re.compile(r"[A-Z][0-9]{2}")


def organ_id_problem(value: str) -> str | None:
    """Why `value` cannot be a directory entry, or None when it can.

    The format itself is the edXML codec's (`organ_id_is_valid`); the directory adds that the
    last group is a level-1 code such as G22 or H39.
    """
    if not value:
        return "OrganId is empty"
    if len(value) > MAX_ORGAN_ID:
        return f"OrganId is longer than {MAX_ORGAN_ID} characters"
    if not organ_id_is_valid(value) or not _LEVEL_1.fullmatch(value.rsplit(".", 1)[-1]):
        return (
            "OrganId must be dot-separated groups of 0-9 A-Z ending with a level-1 code "
            "such as G22 or H39"
        )
    return None


def organ_level(value: str) -> int:
    """Level read right to left: `000.00.00.H39` is 1, `000.00.01.H39` is 2, and so on.

    The level is the position (from the right) of the leftmost group that is not all zeros.
    """
    groups = value.split(".")
    level = 1
    for position, group in enumerate(reversed(groups), start=1):
        if position > 1 and group.strip("0"):
            level = position
    return level
