"""Data quality: expectation suites stored as GX 1.x JSON files, each expectation with a severity."""
