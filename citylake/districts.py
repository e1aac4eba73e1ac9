"""Shanghai's district codes (GB/T 2260; NBS 2023) and the retired codes older systems still send.

Silver normalises every district and street code to the current one, in Spark columns
(``conform_code``); the plain-Python ``current_code`` is its twin for the generator and tests.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column

# code -> (English name, Chinese name)
DISTRICTS: dict[str, tuple[str, str]] = {
    "310101": ("Huangpu", "黄浦区"),
    "310104": ("Xuhui", "徐汇区"),
    "310105": ("Changning", "长宁区"),
    "310106": ("Jing'an", "静安区"),
    "310107": ("Putuo", "普陀区"),
    "310109": ("Hongkou", "虹口区"),
    "310110": ("Yangpu", "杨浦区"),
    "310112": ("Minhang", "闵行区"),
    "310113": ("Baoshan", "宝山区"),
    "310114": ("Jiading", "嘉定区"),
    "310115": ("Pudong", "浦东新区"),
    "310116": ("Jinshan", "金山区"),
    "310117": ("Songjiang", "松江区"),
    "310118": ("Qingpu", "青浦区"),
    "310120": ("Fengxian", "奉贤区"),
    "310151": ("Chongming", "崇明区"),
}

# retired code -> current code (mergers and re-designations)
RETIRED: dict[str, str] = {
    "310103": "310101",  # Luwan merged into Huangpu, 2011
    "310108": "310106",  # Zhabei merged into Jing'an, 2015
    "310230": "310151",  # Chongming county became a district, 2016
    "310119": "310115",  # Nanhui merged into Pudong, 2009
    "310225": "310115",  # Nanhui county code before 2001
    "310226": "310120",  # Fengxian county before 2001
    "310228": "310116",  # Jinshan county before 1997
}

# A rough centre per district, WGS-84 (lon, lat); the generator scatters objects around it.
CENTROIDS: dict[str, tuple[float, float]] = {
    "310101": (121.4846, 31.2317),
    "310104": (121.4367, 31.1885),
    "310105": (121.4244, 31.2204),
    "310106": (121.4478, 31.2286),
    "310107": (121.3972, 31.2497),
    "310109": (121.5050, 31.2646),
    "310110": (121.5260, 31.2596),
    "310112": (121.3816, 31.1129),
    "310113": (121.4890, 31.4049),
    "310114": (121.2654, 31.3747),
    "310115": (121.5447, 31.2222),
    "310116": (121.3420, 30.7417),
    "310117": (121.2277, 31.0324),
    "310118": (121.1242, 31.1504),
    "310120": (121.4741, 30.9178),
    "310151": (121.3973, 31.6232),
}


# What a code may look like: 6-digit district (12-digit with a zero tail is accepted), 9-digit
# street/town (NBS), 12-digit community. Anything else is unknown.
SHAPES = {"district": r"^[0-9]{6}(000000)?$", "street": r"^[0-9]{9}([0-9]{3})?$"}
LENGTHS = {"district": 6, "street": 9}
STATUSES = ("current", "remapped", "unknown")


def current_code(code: str, level: str = "district") -> str | None:
    """The current code at ``level`` (retired district prefix remapped); None if unknown."""
    code = code.strip()
    if not re.match(SHAPES[level], code):
        return None
    head = RETIRED.get(code[:6], code[:6])
    return head + code[6 : LENGTHS[level]] if head in DISTRICTS else None


def code_status(code: str, level: str = "district") -> str:
    now = current_code(code, level)
    if now is None:
        return "unknown"
    return "current" if now == code.strip()[: LENGTHS[level]] else "remapped"


def remap_retired(code6: Column) -> Column:
    """A 6-digit code column with retired district codes replaced by their successors."""
    from pyspark.sql import functions as F

    retired = F.create_map(*[F.lit(x) for kv in sorted(RETIRED.items()) for x in kv])
    return F.coalesce(F.element_at(retired, code6), code6)


def conform_code(col: Column, level: str) -> tuple[Column, Column]:
    """(current code or null, status) for a district or street code column; null stays null."""
    from pyspark.sql import functions as F

    s = F.trim(col)
    head = F.substring(s, 1, 6)
    mapped = remap_retired(head)
    ok = s.rlike(SHAPES[level]) & mapped.isin(*DISTRICTS)
    code = F.when(ok, F.concat(mapped, F.substring(s, 7, LENGTHS[level] - 6)))
    status = (
        F.when(col.isNull(), F.lit(None))
        .when(~ok, F.lit("unknown"))
        .when(mapped != head, F.lit("remapped"))
        .otherwise(F.lit("current"))
    )
    return code, status
