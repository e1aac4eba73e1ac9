"""`python -m citylake.cli`, and the file spark-submit runs on a cluster."""

import os
import sys

# Run as a file (spark-submit), this folder comes first on sys.path, where a command group's
# module could shadow a library's; the package is imported by its name instead.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

from citylake.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
