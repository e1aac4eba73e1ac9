"""Seeded, deterministic sample feeds in the landing layout, with documented faults.

``landing/<unit>/<feed>/<YYYY-MM-DD>/<unit>_<feed>_<YYYYMMDD>.<ext>``

Every value derives from a seed of (unit, feed, date), so the same call writes the same bytes.
Entities (stations, lots, nodes, sites, lockers, terminals) derive from (unit, feed) alone, so
they persist across days, with a few seeded attribute changes per day (SCD2 material).

Faults, at the rates in FAULT_RATES, on disjoint records, counted exactly in the report that is
written to ``_system/generated/<date>.json``:
- ``null_required``: a required (non-nullable) column left empty;
- ``duplicate``: an exact copy of another record;
- ``malformed`` (CSV/JSON only): extra field, missing field, unparseable number, broken JSON;
- ``out_of_range``: a value outside its column's declared min/max;
- ``bad_coordinates``: (0, 0) or swapped lon/lat, for contracts with coordinates;
- ``invalid_resident_id``: a wrong GB 11643 check character, for contracts with resident IDs;
- ``late``: an event time on the previous day;
and per file: ``resend`` (a second, byte-identical copy under another name) and ``late_file``
(an extra file of the previous day's records delivered today).

Data subjects (``generate(..., subjects=N)``, citylake.generate.subjects), for PIPL requests:
N seeded people planted in the feeds with personal data, in good and malformed records, a
forced re-send and an extra file preflight rejects whole (``rejected``); reports count their
records by subject number, never by value. With no subjects, the output is as without them.

Codes: district and street codes are real register codes (NBS 2023); legacy units send retired
ones and 1% of street codes exist nowhere (``faults.legacy_codes``); each file's report counts them as
silver must conform them. The civil-affairs unit delivers the shipped register itself.
"""

from citylake.generate.day import FileReport, build_rows, file_name, generate, generate_feed
from citylake.generate.faults import FAULT_RATES, FILE_FAULT_RATES
from citylake.generate.render import render

__all__ = ["FAULT_RATES", "FILE_FAULT_RATES", "FileReport", "build_rows", "file_name", "generate",
           "generate_feed", "render"]  # fmt: skip
