"""OrganId (mã định danh) rules of QCVN 102:2016 and Decision 20/2020/QĐ-TTg."""

from __future__ import annotations

import re

_ORGAN_ID = re.compile(r"^(?:[0-9A-Z]+\.)*[A-Z][0-9]{2}$")
MAX_LENGTH = 35


def organ_id_problem(value: str) -> str | None:
    """Why `value` is not an OrganId, or None when it is one."""
    if not value:
        return "OrganId is empty"
    if len(value) > MAX_LENGTH:
        return f"OrganId is longer than {MAX_LENGTH} characters"
    if not _ORGAN_ID.match(value):
        return (
            "OrganId must be dot-separated groups of 0-9 A-Z ending with a level-1 code "
            "such as G22 or H41"
        )
    return None


def organ_level(value: str) -> int:
    """Level read right to left: `000.00.00.H41` is 1, `000.00.01.H41` is 2, and so on.

    The level is the position (from the right) of the leftmost group that is not all zeros.
    """
    groups = value.split(".")
    level = 1
    for position, group in enumerate(reversed(groups), start=1):
        if position > 1 and group.strip("0"):
            level = position
    return level
