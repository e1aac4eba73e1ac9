"""The machinery under the jobs: object storage, Delta logs and tables, the SparkSession, lineage,
the lake clock and the cached web assets. A new storage backend goes in storage.py.
"""
