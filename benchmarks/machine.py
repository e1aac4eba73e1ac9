"""What the figures were measured on: cores, memory, CPU and the stack's versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from typing import Any

PACKAGES = (
    "pyspark",
    "delta-spark",
    "great-expectations",
    "apache-airflow",
    "deltalake",
    "polars",
    "pyarrow",
)


def _meminfo_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            kib = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
        return round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def _java() -> str:
    try:
        proc = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        return (proc.stderr or proc.stdout).splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def info() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": _meminfo_gib(),
        "cpu": _cpu_model(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": _java(),
        "versions": {p: metadata.version(p) for p in PACKAGES},
    }
