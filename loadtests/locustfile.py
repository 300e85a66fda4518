"""Entry point for Locust: `locust -f loadtests/locustfile.py --host http://127.0.0.1:8765`.

Works on its own (web UI included) with the defaults of ./scenarios.yaml; the harness runner passes
its settings through PAVI_LOAD_SETTINGS (see loadtests/settings.py) and gets every request recorded.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Locust puts this file's folder on sys.path, not the project root; an uninstalled checkout needs it.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from loadtests import recorder  # noqa: E402, F401  (registers its listeners on import)
from loadtests.journey import PaviUser  # noqa: E402

__all__ = ["PaviUser"]
