"""Make the repository importable when a script is run from a checkout that was not pip-installed."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# Child processes (submitit's local workers unpickle the job, which names our modules) start a fresh
# interpreter whose sys.path lacks ROOT unless the working directory happens to be the checkout.
_paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
if str(ROOT) not in _paths:
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *_paths])
