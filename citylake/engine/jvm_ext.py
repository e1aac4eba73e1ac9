"""citylake's own JVM classes (jvm/src): compiled once into a jar that every session loads.

Some things must run inside Spark's JVM and cannot be Spark columns: the PII HMAC, whose key
would otherwise sit in every plan as a literal, and the SQL endpoint's read-only guard, which
Spark only accepts as a session extension class. They are compiled from source with the JDK's
``javac`` against the pyspark wheel's jars and the cached Delta jars, so nothing is fetched.

The jar's name carries a hash of the sources, the JDK and pyspark: an edited source or an
upgrade builds a new jar on the next session, and a stale one is never loaded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from citylake.config.settings import REPO_ROOT, ConfigError, Settings
from citylake.config.variables import read

SOURCES = REPO_ROOT / "jvm" / "src"
PREFIX = "citylake-ext-"


def _sources() -> list[Path]:
    return sorted(SOURCES.rglob("*.java"))


def _javac() -> str:
    home = read("JAVA_HOME")
    javac = str(Path(home) / "bin" / "javac") if home else shutil.which("javac")
    if not javac or not Path(javac).exists():
        raise ConfigError(
            "citylake's JVM classes need a JDK's javac (Debian: apt-get install openjdk-17-jdk-headless)"
        )
    return javac


def jar_path(settings: Settings) -> Path:
    """Where the jar for these sources, this JDK and this pyspark lives (it may not exist yet)."""
    import pyspark

    digest = hashlib.sha256(pyspark.__version__.encode())
    digest.update(str(Path(os.path.realpath(shutil.which("java") or "java"))).encode())
    for src in _sources():
        digest.update(str(src.relative_to(SOURCES)).encode() + b"\0" + src.read_bytes())
    return settings.jars_dir.parent / "jvm" / f"{PREFIX}{digest.hexdigest()[:16]}.jar"


def ensure_jar(settings: Settings) -> Path:
    """The jar, compiled now if this is the first session since the sources changed."""
    target = jar_path(settings)
    if target.exists():
        return target
    import pyspark

    from citylake.engine.spark import cached_jars

    classpath = [str(Path(pyspark.__file__).parent / "jars" / "*")]
    classpath += [str(j) for j in cached_jars(settings) if "delta" in j.name]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        out = Path(work) / "classes"
        cmd = [_javac(), "--release", "17", "-nowarn", "-d", str(out), "-cp", os.pathsep.join(classpath),
               *map(str, _sources())]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise ConfigError(f"compiling citylake's JVM classes in {SOURCES} failed:\n{proc.stderr[-3000:]}")
        partial = Path(work) / "ext.jar"
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: citylake\n")
            for cls in sorted(out.rglob("*.class")):
                jar.write(cls, cls.relative_to(out).as_posix())
        # renamed into place: a session starting meanwhile sees no jar or a whole one
        partial.rename(target)
    for old in target.parent.glob(f"{PREFIX}*.jar"):
        if old != target:
            old.unlink(missing_ok=True)
    return target
