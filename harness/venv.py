#!/usr/bin/env python3
"""Creates (once) the Python virtualenv of the test oracles — pyarrow and the Python
cassandra-driver, from harness/requirements.txt — in the cache, and prints its python path.
Re-installs when requirements.txt changes."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("CQLBULK_CACHE", Path.home() / ".cache" / "cqlbulk"))
VENV = CACHE / "venv"


def main() -> int:
    requirements = HARNESS / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    marker = VENV / ".requirements.sha256"
    python = VENV / "bin" / "python"
    if not (python.exists() and marker.exists() and marker.read_text() == digest):
        print(f"venv: installing test oracles into {VENV}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True)
        marker.write_text(digest)
    print(python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
