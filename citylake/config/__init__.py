"""Configuration: the environment's settings and the typed registry of units, contracts and marts.

Above the domain rules (the registry checks district codes), below everything that runs.
"""
