"""citylake's benchmarks: `make bench` (python -m benchmarks) runs them all and writes the results."""

import os

# The benchmarks land their files and load them at once: no settling time for the landing
# (citylake.lake.completeness), or every freshly written file would wait for a later run.
os.environ.setdefault("CITYLAKE_LANDING_SETTLE_S", "0")
