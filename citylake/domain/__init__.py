"""Domain rules, pure and engine-free: division codes, coordinate systems, ID check characters, PII.

The lowest layer: it imports nothing else from citylake. A new coordinate system goes in geo.py.
"""
