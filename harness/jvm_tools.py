"""What the harness scripts share: the cache location, Maven resolution of a JVM program's
runtime jars into that cache, and reading the end of a log. Standard library only."""

from __future__ import annotations

import os
import contextlib
import fcntl
import shutil
import subprocess
import sys
import time
from pathlib import Path

CACHE_DIR = Path(os.environ.get("CQLBULK_CACHE", Path.home() / ".cache" / "cqlbulk"))


class HarnessError(Exception):
    pass


def install_jars(pom: Path, install_dir: Path, properties: dict[str, str], what: str, log) -> Path:
    """Copies the runtime dependencies of `pom` into `install_dir/lib` (once; a marker file
    says it finished) and returns that directory. The Maven repository is shared in the cache."""
    lib = install_dir / "lib"
    marker = install_dir / ".complete"
    if marker.exists():
        return lib
    if shutil.which("mvn") is None:
        raise HarnessError("Maven (mvn) is not on PATH: install it (apt-get install maven)")
    log(f"installing {what} from Maven Central into {install_dir}")
    started = time.monotonic()
    if lib.exists():
        shutil.rmtree(lib)
    cmd = ["mvn", "-q", "-B", "-f", str(pom), f"-Dmaven.repo.local={CACHE_DIR / 'm2'}"]
    cmd += [f"-D{key}={value}" for key, value in properties.items()]
    cmd += ["dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={lib}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise HarnessError(f"Maven could not resolve {what}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    log(f"installed in {time.monotonic() - started:.0f}s")
    return lib


@contextlib.contextmanager
def install_lock(install_dir: Path):
    """Held while one process installs into `install_dir`: tests running at once each ask
    for the same tool, and two Maven copies into one lib directory corrupt it."""
    install_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(install_dir.parent / f".{install_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def mark_installed(install_dir: Path, version: str) -> None:
    """Called once the caller has checked the jars it needs are there."""
    (install_dir / ".complete").write_text(version + "\n")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


if __name__ == "__main__":
    sys.exit("jvm_tools.py is a module of the harness scripts, not a command")
