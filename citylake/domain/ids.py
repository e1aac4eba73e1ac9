"""Check characters of Chinese identifiers: resident ID (GB 11643) and USCC (GB 32100).

Plain Python, for the generator and for tests; silver uses the Spark-column twins of these rules.
"""

from __future__ import annotations

import re

ID_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]  # 2^(i-1) mod 11, position 18 down to 2
ID_CHECK = "10X98765432"  # index = sum mod 11
ID18 = re.compile(r"^\d{17}[\dX]$")
ID15 = re.compile(r"^\d{15}$")

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [3**i % 31 for i in range(17)]
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


def resident_id_check(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def is_valid_resident_id(value: str) -> bool:
    """18-digit IDs must carry the right check character; legacy 15-digit IDs have none."""
    value = value.strip().upper()
    if ID15.match(value):
        return True
    return bool(ID18.match(value)) and resident_id_check(value[:17]) == value[17]


def org_code_check(first8: str) -> str:
    """GB 11714: digits count as themselves, letters A=10 .. Z=35."""
    total = sum(int(c, 36) * w for c, w in zip(first8, ORG_WEIGHTS, strict=True))
    c = 11 - total % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def uscc_check(first17: str) -> str:
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def is_valid_uscc(value: str) -> bool:
    if len(value) != 18 or any(c not in USCC_CHARS for c in value):
        return False
    return uscc_check(value[:17]) == value[17]
