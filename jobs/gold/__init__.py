"""Gold marts: one module per mart, each a pure ``build(inputs, dates) -> DataFrame``.

``inputs`` maps the mart doc's ``inputs`` (e.g. "silver.ev_charging_sessions") to DataFrames;
``dates`` are the days to (re)build. jobs/gold_publish.py reads, validates and publishes.
"""
