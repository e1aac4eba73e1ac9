"""`python -m citylake.cli`, and the file spark-submit runs on a cluster."""

import sys

from citylake.cli import main

if __name__ == "__main__":
    sys.exit(main())
