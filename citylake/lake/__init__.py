"""The lake's bookkeeping: where things live (``Lake``, here: every path citylake reads or writes
is built by it), preflight, the manifest and ledger, publication, landing, progress, status, the
run lock, reference tables, and the SQL catalog and endpoint over the lake's tables."""

from __future__ import annotations

from dataclasses import dataclass

from citylake.config.settings import Settings, load_settings

ZONES = ("landing", "bronze", "silver", "gold", "published", "quarantine", "_system", "restricted")
# Catalog databases: the zones that hold Delta tables analysts may name in SQL. Not restricted:
# restricted subjects' rows (PIPL 47(2)) are read only on the data-protection officer's path.
TABLE_ZONES = ("bronze", "silver", "gold", "quarantine", "_system")

# _system tables
FILE_MANIFEST = "file_manifest"
RUN_LEDGER = "run_ledger"
RUNS = "runs"
DQ_RESULTS = "dq_results"
PUBLICATIONS = "publications"
PROGRESS = "progress"
BRONZE_AUDIT = "bronze_audit"  # each bronze batch's counts and verdict, after its write
# quarantine tables
BRONZE_RECORDS = "bronze_records"
REJECTED_FILES = "rejected_files"
DQ_ROWS = "dq_rows"


@dataclass(frozen=True)
class Lake:
    """The lake under ``root``: one folder per zone, or one bucket per zone.

    A root with ``{zone}`` in it (``s3a://citylake-prod-{zone}``) puts each zone in its own
    bucket, as infra/terraform provisions them; bucket names allow no underscore, so
    ``_system`` lives in ``...-system``.
    """

    root: str

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Lake:
        return cls((settings or load_settings()).lake_root)

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3a://")

    def zone(self, zone: str) -> str:
        if zone not in ZONES:
            raise ValueError(f"unknown zone {zone!r}")
        if "{zone}" in self.root:
            return self.root.replace("{zone}", zone.lstrip("_"))
        return f"{self.root}/{zone}"

    def table(self, zone: str, name: str) -> str:
        return f"{self.zone(zone)}/{name}"

    def landing_dir(self, unit: str, feed: str, date: str) -> str:
        return f"{self.zone('landing')}/{unit}/{feed}/{date}"

    def rejected_file_copy(self, date: str, unit: str, feed: str, name: str) -> str:
        return f"{self.zone('quarantine')}/files/{date}/{unit}/{feed}/{name}"
