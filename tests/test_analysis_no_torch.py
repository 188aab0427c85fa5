"""analysis/ must run on machines without a GPU stack: importing it never imports torch."""
import pkgutil
import subprocess
import sys
from pathlib import Path

import analysis

ROOT = Path(__file__).resolve().parents[1]


def test_no_analysis_module_imports_torch():
    modules = [f"analysis.{m.name}" for m in pkgutil.iter_modules(analysis.__path__)]
    code = ";".join(f"import {m}" for m in modules) + ";import sys;print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert len(modules) >= 15
