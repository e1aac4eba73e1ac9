"""Entry points for schedulers: the daily runner (pipeline) and the callables Airflow tasks run.

They sequence jobs/ under the lake's run lock; nothing below them imports them.
"""
