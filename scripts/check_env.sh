#!/usr/bin/env bash
# Prints the Python 3.11 interpreter to use, or one line saying what to install, and exits 1.
set -u
py=""
for cand in "${PYTHON:-}" python3.11 python3; do
  [[ -n $cand ]] || continue
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    py=$(command -v "$cand"); break
  fi
done
if [[ -z $py ]]; then
  echo "citylake needs Python 3.11: install it (Debian/Ubuntu: apt-get install python3.11 python3.11-venv) or set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if ! command -v java >/dev/null 2>&1; then
  echo "citylake needs Java 17 or newer for Spark: install it (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless (a JDK: setup compiles citylake's JVM classes with javac)) or put java on PATH" >&2
  exit 1
fi
jv=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
if [[ -z $jv || $jv -lt 17 ]]; then
  echo "citylake needs Java 17 or newer for Spark, found '${jv:-unknown}': install openjdk-17-jdk-headless (a JDK: setup compiles citylake's JVM classes with javac) or set JAVA_HOME" >&2
  exit 1
fi
echo "$py"
