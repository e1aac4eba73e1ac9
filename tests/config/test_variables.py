"""citylake/config/variables.py: every variable declared once, read through ``read``."""

from __future__ import annotations

import os

import pytest

from citylake.config import variables
from citylake.config.settings import Settings, load_settings
from citylake.config.variables import VARIABLES, read

STANDARD_PREFIXES = ("AWS_", "JAVA_HOME", "AIRFLOW_", "SPARK_", "OPENLINEAGE_")


def test_an_undeclared_name_is_refused():
    with pytest.raises(KeyError, match="CITYLAKE_NO_SUCH_THING is not declared"):
        read("CITYLAKE_NO_SUCH_THING")


def test_a_set_value_is_read_as_set_and_a_blank_one_is_the_default(monkeypatch):
    monkeypatch.setenv("CITYLAKE_SQL_PASSWORD", " two words ")
    assert read("CITYLAKE_SQL_PASSWORD") == " two words "
    monkeypatch.setenv("CITYLAKE_SQL_PORT", "  ")
    assert read("CITYLAKE_SQL_PORT") == "10000"
    monkeypatch.delenv("OPENLINEAGE_ENDPOINT", raising=False)
    assert read("OPENLINEAGE_ENDPOINT") == "api/v1/lineage"


def test_standard_variables_are_marked_and_citylake_ones_are_not():
    for v in VARIABLES.values():
        assert v.standard == v.name.startswith(STANDARD_PREFIXES), v.name
        assert v.standard != v.name.startswith("CITYLAKE_"), v.name
        assert v.meaning and v.reader and "\n" not in v.meaning


def test_the_declared_defaults_are_the_settings_defaults(monkeypatch):
    for name in [n for n in os.environ if n.startswith("CITYLAKE_")]:
        monkeypatch.delenv(name)
    assert load_settings() == Settings()


def test_defaults_hides_this_shells_values_and_gives_them_back(monkeypatch):
    monkeypatch.setenv("CITYLAKE_SQL_PORT", "12345")
    with variables.defaults():
        assert "CITYLAKE_SQL_PORT" not in os.environ and read("CITYLAKE_SQL_PORT") == "10000"
    assert os.environ["CITYLAKE_SQL_PORT"] == "12345"


def test_paths_in_the_checkout_are_shown_relative_to_it():
    assert VARIABLES["CITYLAKE_LAKE_ROOT"].shown_default == "<repo>/lake"
    assert VARIABLES["CITYLAKE_SPARK_MASTER"].shown_default == "local[2]"
    assert VARIABLES["CITYLAKE_ALERT_HOOK"].shown_default == "unset"


def test_the_cluster_profile_submits_to_a_cluster_master(monkeypatch):
    """CITYLAKE_PROFILE=cluster is what its description says: tasks spark-submit to the master,
    which must be a cluster's; an explicit CITYLAKE_EXECUTION still wins."""
    from citylake.config.settings import ConfigError

    for name in [n for n in os.environ if n.startswith("CITYLAKE_")]:
        monkeypatch.delenv(name)
    assert load_settings().execution == "embedded"
    monkeypatch.setenv("CITYLAKE_PROFILE", "cluster")
    with pytest.raises(ConfigError, match="CITYLAKE_PROFILE=cluster needs CITYLAKE_SPARK_MASTER to name a cluster"):
        load_settings()
    monkeypatch.setenv("CITYLAKE_SPARK_MASTER", "spark://10.0.0.5:7077")
    assert load_settings().execution == "submit"
    monkeypatch.setenv("CITYLAKE_EXECUTION", "embedded")
    assert load_settings().execution == "embedded"
