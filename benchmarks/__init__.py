"""citylake's benchmarks: `make bench` (python -m benchmarks) runs them all and writes the results."""
