"""The class archive `make setup` builds: drivers map Spark's classes from it, and a JVM that
cannot use an archive still starts, printing nothing on stdout (which `--json` output owns)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

from citylake.config.settings import load_settings
from citylake.engine import class_archive


def test_a_driver_maps_sparks_classes_from_the_archive_setup_built(tmp_path):
    settings = load_settings()
    archive = class_archive.archive_path(settings)
    assert archive.exists(), f"`make setup` builds the class archive; {archive} is missing"
    log = tmp_path / "classes.log"
    code = "from citylake.engine.spark import get_spark; print(get_spark('archive-test').range(3).count())"
    env = {**os.environ, "JAVA_TOOL_OPTIONS": f"-Xlog:class+load=info:file={log}"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "3\n"
    loaded = log.read_text().splitlines()
    mapped = [line for line in loaded if line.endswith("source: shared objects file (top)")]
    # the dynamic (top) layer is setup's archive; the JDK's own base archive is the other layer
    assert len(mapped) > 10_000, f"{len(mapped)} of {len(loaded)} classes came from {archive}"
    names = {line.split()[1] for line in mapped}
    assert {"org.apache.spark.sql.SparkSession", "org.apache.spark.SparkContext",
            "io.delta.sql.DeltaSparkSessionExtension"} <= names  # fmt: skip
    # CITYLAKE_CLASS_ARCHIVE=off: the driver is started as before
    assert class_archive.java_options(dataclasses.replace(settings, class_archive=False)) == ""


def test_no_archive_no_option_and_a_rejected_one_is_skipped_quietly(tmp_path):
    settings = dataclasses.replace(load_settings(), jars_dir=tmp_path / "jars")
    # a missing archive file would switch off even the JDK's own class sharing: no option at all
    assert class_archive.java_options(settings) == ""
    archive = class_archive.archive_path(settings)
    archive.parent.mkdir(parents=True)
    # setup's archive, for a JVM whose class path is not Spark's: the JVM refuses to map it
    archive.symlink_to(class_archive.archive_path(load_settings()))
    options = class_archive.java_options(settings).split()
    assert f"-XX:SharedArchiveFile={archive}" in options
    quiet = subprocess.run(["java", *options, "-version"], capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "" and "version" in quiet.stderr
    # what the logging switch keeps off stdout
    loud = subprocess.run(["java", f"-XX:SharedArchiveFile={archive}", "-version"], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert loud.returncode == 0 and "shared archive" in loud.stdout.lower()
