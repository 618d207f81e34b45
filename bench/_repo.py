"""Put the repository root on ``sys.path``: bench scripts import ``tests.support.harness``.

A bench script runs as ``python bench/x.py``, so Python puts ``bench/`` (not the repository
root) first on ``sys.path``. The process harness (``DevProcess``, ``wait_for``) lives in
``tests/support/`` so that it is shared with the tests without being shipped in the wheel;
importing this module first makes it importable whatever the working directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))
