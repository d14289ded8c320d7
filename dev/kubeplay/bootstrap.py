"""PyYAML, guaranteed: importing this module either provides `yaml` or re-executes the process.

When PyYAML is missing, the entry point is re-run (same sys.argv) with the repo's venv (dev/python.sh's,
$STRATA_VENV or ~/.cache/strata/venv), which is created and given PyYAML first if needed; nothing else happens
before that, so the re-run starts from scratch.
"""
import os
import subprocess
import sys

try:
    import yaml
except ImportError:  # Use (and complete) the repo's venv: dev/python.sh's.
    venv = os.environ.get("STRATA_VENV", os.path.expanduser("~/.cache/strata/venv"))
    python = os.path.join(venv, "bin", "python")
    if os.path.realpath(sys.executable) == os.path.realpath(python):
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pyyaml"], check=True)
    elif not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    if subprocess.run([python, "-c", "import yaml"], capture_output=True).returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pyyaml"], check=True)
    os.execv(python, [python] + sys.argv)

__all__ = ["yaml"]
