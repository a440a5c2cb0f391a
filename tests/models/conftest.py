"""``models/`` is not an installed package: make ``fire_smoke.*`` importable for these tests."""

from __future__ import annotations

import sys
from pathlib import Path

MODELS = Path(__file__).resolve().parents[2] / "models"
if str(MODELS) not in sys.path:
    sys.path.insert(0, str(MODELS))
