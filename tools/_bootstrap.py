"""Make the repository's packages importable from tools/ and apply the runtime compatibility."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import runtime.openmmlab  # noqa: E402,F401  (compat.apply(): torch >= 2.6 resume, atomic writes; hooks)
import backbones  # noqa: E402,F401  (registers IncubationViTBackbone)
