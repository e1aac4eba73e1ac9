"""citylake: the data-lake ETL platform under the municipal big-data platform."""

__version__ = "0.1.0"
