from __future__ import annotations

import numpy as np

from citylake.domain import geo
from citylake.domain.ids import is_valid_resident_id, is_valid_uscc, resident_id_check


def test_resident_id_check_character_gb11643():
    # The standard's worked example: 11010519491231002X
    assert resident_id_check("11010519491231002") == "X"
    assert is_valid_resident_id("11010519491231002X")
    assert not is_valid_resident_id("110105194912310021")
    assert is_valid_resident_id("110105491231002")  # legacy 15-digit: no check character
    assert not is_valid_resident_id("11010519491231002")


def test_uscc_check_character_gb32100():
    assert is_valid_uscc("91350100M000100Y43")
    assert not is_valid_uscc("91350100M000100Y44")
    assert not is_valid_uscc("91350100M000100Y4")


def test_gcj02_forward_matches_known_pair():
    # Tiananmen: WGS-84 (116.391349, 39.907375) -> GCJ-02 about (116.397590, 39.908776)
    lon, lat = geo.wgs84_to_gcj02(np.array([116.391349]), np.array([39.907375]))
    assert abs(lon[0] - 116.3975905) < 2e-5 and abs(lat[0] - 39.9087757) < 2e-5
    # outside China nothing moves
    lon, lat = geo.wgs84_to_gcj02(np.array([2.2945]), np.array([48.8584]))
    assert lon[0] == 2.2945 and lat[0] == 48.8584
