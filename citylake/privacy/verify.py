"""The verifier: a scan of every object under the lake root that proves the subjects are gone.

Written apart from the eraser, on purpose (it imports nothing from it), so one mistake cannot hide
itself: the eraser says what it removed, the verifier looks at every byte that is left.

Every object is read, hidden ones too (Delta logs, checkpoints, deletion vectors, change data,
``_system``, GX results and Data Docs, reports, lineage, raw files); on S3 every version of every
object, noncurrent ones too. Each object's bytes are searched as they are, decompressed (gzip,
bz2, xz, zstd, lz4, zip), as Parquet (every cell of every row group, footer statistics and
metadata), and as text decoded as UTF-8 and GB18030, unescaped (JSON ``\\u``, HTML entities, URL
``%``, Python ``\\x``) and normalised the way silver normalises, so a value split by spaces or
lower-cased still counts. Findings name the object, version, subject number and needle kind,
never the value or hash found.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from citylake.engine.storage import split_s3
from citylake.lake import ZONES, Lake
from citylake.lake.subjects import Subject
from citylake.privacy.verify_scan import Needles, Scan


class VerifyError(RuntimeError):
    """The lake cannot be scanned at all (no such root); the message names the root."""


@dataclass(frozen=True)
class Finding:
    """A subject still present: where, and which kind of needle; ``layers`` says how it was read."""

    path: str
    version_id: str | None
    subject: int
    kind: str  # 'value' or 'hash'
    layers: tuple[str, ...]

    def json(self) -> dict[str, Any]:
        return {"path": self.path, "version_id": self.version_id, "subject": self.subject,
                "kind": self.kind, "layers": list(self.layers)}  # fmt: skip


@dataclass(frozen=True)
class Problem:
    """An object (or part of one) that could not be read, so its absence of subjects is unproven."""

    path: str
    version_id: str | None
    reason: str  # what failed and the exception class, never content

    def json(self) -> dict[str, Any]:
        return {"path": self.path, "version_id": self.version_id, "reason": self.reason}


@dataclass
class VerifyReport:
    root: str
    subjects: int
    objects: int = 0  # distinct paths (keys)
    versions: int = 0  # object versions read (local files count one each)
    delete_markers: int = 0  # S3 delete markers: counted, they have no body
    vanished: int = 0  # listed, then gone before they were read: nothing left to find
    bytes_scanned: int = 0  # stored bytes read, before decompression
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Nothing found, and nothing left unread: only then is absence proven."""
        return not self.findings and not self.problems

    def json(self) -> dict[str, Any]:
        return {"root": self.root, "subjects": self.subjects, "clean": self.clean, "objects": self.objects,
                "versions": self.versions, "delete_markers": self.delete_markers, "vanished": self.vanished,
                "bytes": self.bytes_scanned, "seconds": round(self.seconds, 3),
                "findings_count": len(self.findings), "findings": [f.json() for f in self.findings],
                "problems": [p.json() for p in self.problems]}  # fmt: skip

    def text(self, limit: int = 50) -> str:
        head = (f"verified {self.subjects} subject(s) under {self.root}: {self.objects} objects, "
                f"{self.versions} versions ({self.delete_markers} delete markers), "
                f"{self.bytes_scanned / 1e6:.1f} MB in {self.seconds:.1f} s")  # fmt: skip
        if self.findings:
            verdict = f"NOT CLEAN: {len(self.findings)} finding(s), subject(s) {sorted({f.subject for f in self.findings})}"
        elif self.problems:
            verdict = f"NOT PROVEN: {len(self.problems)} object(s) or parts could not be read"
        else:
            verdict = "clean: none of the subjects was found"
        lines = [head, verdict]
        for f in self.findings[:limit]:
            version = f" version {f.version_id}" if f.version_id else ""
            lines.append(
                f"  found subject {f.subject} ({f.kind}) in {f.path}{version} [{', '.join(f.layers)}]"
            )
        for p in self.problems[:limit]:
            version = f" version {p.version_id}" if p.version_id else ""
            lines.append(f"  unreadable: {p.path}{version}: {p.reason}")
        more = max(0, len(self.findings) - limit) + max(0, len(self.problems) - limit)
        if more:
            lines.append(f"  ... and {more} more (--json lists all)")
        return "\n".join(lines)


# --- enumeration -------------------------------------------------------------------------------

# (path, version id or None, read the body) for each object version under the root
Source = tuple[str, str | None, Callable[[], bytes]]


def _targets(lake: Lake) -> list[str]:
    """The lake's locations: its root, or each zone's bucket or folder when the root has ``{zone}``."""
    if "{zone}" not in lake.root:
        return [lake.root.rstrip("/")]
    return list(dict.fromkeys(lake.zone(z).rstrip("/") for z in ZONES))


def _local_sources(lake: Lake, report: VerifyReport) -> Iterator[Source]:
    roots = [t.removeprefix("file://") for t in _targets(lake)]
    if not any(os.path.isdir(r) for r in roots):
        raise VerifyError(f"lake root {lake.root} does not exist: nothing to verify there")
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                report.objects += 1

                def read(path: str = path) -> bytes:
                    with open(path, "rb") as fh:
                        return fh.read()

                yield path, None, read


def _s3_sources(lake: Lake, report: VerifyReport, client: Any) -> Iterator[Source]:
    if client is None:
        import boto3

        client = boto3.client("s3")  # endpoint and keys from the environment, as S3Store's
    for target in _targets(lake):
        scheme = target.split("://", 1)[0]
        bucket, prefix = split_s3(target + "/")
        try:
            pages = list(client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix))
        except client.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", type(exc).__name__)
            if code == "NoSuchBucket":  # a zone never provisioned holds nothing to find
                continue
            report.problems.append(Problem(f"{scheme}://{bucket}/{prefix}", None, f"not listable ({code})"))
            continue
        keys: set[str] = set()
        for page in pages:
            report.delete_markers += len(page.get("DeleteMarkers", []))
            keys |= {m["Key"] for m in page.get("DeleteMarkers", [])}
            for v in page.get("Versions", []):
                keys.add(v["Key"])

                def read(key: str = v["Key"], vid: str = v["VersionId"], bucket: str = bucket) -> bytes:
                    body = client.get_object(Bucket=bucket, Key=key, VersionId=vid)["Body"]
                    with body:
                        return bytes(body.read())

                yield f"{scheme}://{bucket}/{v['Key']}", v["VersionId"], read
        report.objects += len(keys)


_GONE = ("NoSuchKey", "NoSuchVersion", "404")


def _scan_one(needles: Needles, source: Source) -> tuple[Source, int, Scan | None, str | None]:
    """Read and scan one object version: (source, size, scan or None if gone, error)."""
    path, _, read = source
    try:
        data = read()
    except FileNotFoundError:
        return source, 0, None, None
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in _GONE:
            return source, 0, None, None
        return source, 0, None, f"not readable ({code or type(exc).__name__})"
    scan = Scan(needles)
    try:
        scan.blob(data, "bytes")
        scan.flush()
    except Exception as exc:  # a reader's bug must not pass for a clean object
        return source, len(data), None, f"scan failed ({type(exc).__name__})"
    return source, len(data), scan, None


def verify_lake(
    lake: Lake, subjects: list[Subject], key: bytes, *, s3_client: Any = None, workers: int = 8
) -> VerifyReport:
    """Scan every object (on S3 every object version) under the lake root for the subjects'
    values, normalised values and hashes. ``s3_client`` defaults to boto3's, from the environment."""
    t0 = time.perf_counter()
    needles = Needles(subjects, key)
    report = VerifyReport(root=lake.root, subjects=len(subjects))
    s3 = lake.root.startswith(("s3a://", "s3://", "s3n://"))
    sources = _s3_sources(lake, report, s3_client) if s3 else _local_sources(lake, report)
    found: dict[tuple[str, str | None, int, str], set[str]] = {}
    # threads overlap the reads (S3 round trips); each holds one object's bytes at a time
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for (path, vid, _), size, scan, error in pool.map(lambda s: _scan_one(needles, s), sources):
            if error:
                report.problems.append(Problem(path, vid, error))
                continue
            if scan is None:
                report.vanished += 1
                continue
            report.versions += 1
            report.bytes_scanned += size
            for (subject, kind), layers in scan.hits.items():
                found.setdefault((path, vid, subject, kind), set()).update(layers)
            report.problems += [Problem(path, vid, reason) for reason in scan.problems]
    report.findings = [Finding(p, v, s, k, tuple(sorted(layers))) for (p, v, s, k), layers in sorted(
        found.items(), key=lambda item: (item[0][0], item[0][1] or "", item[0][2], item[0][3]))]  # fmt: skip
    report.seconds = time.perf_counter() - t0
    return report
