"""The typed registry of feed contracts and source units.

Everything is driven from here: jobs, DAGs, checks, the generator and the docs. It is loaded from
YAML under schemas/ (``contracts/*.yaml``, ``units/*.yaml``) and validated in full at load time:
every problem is reported with its file, field and reason before any Spark work starts.
"""

from citylake.config.registry.loading import Problem, RegistryError, load_registry
from citylake.config.registry.models import (
    Column,
    Completeness,
    Coordinates,
    Feed,
    FeedContract,
    FeedLimits,
    FeedSpec,
    MartColumn,
    MartDoc,
    MartLayout,
    Registry,
    SourceUnit,
)

__all__ = ["Column", "Completeness", "Coordinates", "Feed", "FeedContract", "FeedLimits", "FeedSpec", "MartColumn", "MartDoc", "MartLayout",
           "Problem", "Registry", "RegistryError", "SourceUnit", "load_registry"]  # fmt: skip
