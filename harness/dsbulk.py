#!/usr/bin/env python3
"""DSBulk (the DataStax Bulk Loader) for cqlbulk's integration tests and benchmarks.

DSBulk 1.10.0 is assembled from its module artifacts on Maven Central (see
harness/dsbulk-pom.xml: the distribution archive and 1.11.x are not on the registry this
project reaches) into $CQLBULK_CACHE/dsbulk-1.10.0/lib, and run as
`java -cp LIB/* com.datastax.oss.dsbulk.runner.DataStaxBulkLoader` with JVM defaults and
DSBulk's default settings.

    harness/dsbulk.py install          # idempotent; prints the lib directory
    harness/dsbulk.py run ARGS...      # installs if needed, then runs DSBulk with ARGS

    e.g. harness/dsbulk.py run unload -k ks -t table -url DIR --log.directory LOGDIR

DSBulk writes its operation logs under ./logs of the working directory unless given
--log.directory. From Python, `dsbulk_command()` returns the command prefix to which the
DSBulk arguments are appended.

Standard library only: this runs before any virtualenv exists.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jvm_tools import CACHE_DIR, HarnessError, install_jars, install_lock, mark_installed

DSBULK_VERSION = "1.10.0"  # 1.11.x is not on the Maven Central this project reaches; pinned
MAIN_CLASS = "com.datastax.oss.dsbulk.runner.DataStaxBulkLoader"
HARNESS_DIR = Path(__file__).resolve().parent
POM = HARNESS_DIR / "dsbulk-pom.xml"
INSTALL_DIR = CACHE_DIR / f"dsbulk-{DSBULK_VERSION}"
# The modules without which `unload` and `load` of CSV and JSON cannot run.
REQUIRED_MODULES = ["runner", "workflow-unload", "workflow-load", "connectors-csv", "connectors-json"]


def log(msg: str) -> None:
    print(f"dsbulk: {msg}", file=sys.stderr, flush=True)


def lib_dir() -> Path:
    return INSTALL_DIR / "lib"


def install() -> Path:
    """Resolves DSBulk and its runtime dependencies into the cache (once); returns the lib
    directory."""
    if (INSTALL_DIR / ".complete").exists():
        return lib_dir()
    with install_lock(INSTALL_DIR):
        return install_locked()


def install_locked() -> Path:
    # Another process may have finished while this one waited for the lock.
    if (INSTALL_DIR / ".complete").exists():
        return lib_dir()
    # bench/run.py used to install into the same directory and mark lib/.complete: adopt
    # such an install instead of resolving it again.
    legacy_marker = lib_dir() / ".complete"
    if not (legacy_marker.exists() and legacy_marker.read_text().strip() == DSBULK_VERSION):
        install_jars(POM, INSTALL_DIR, {"dsbulk.version": DSBULK_VERSION}, f"DSBulk {DSBULK_VERSION}", log)
    missing = [m for m in REQUIRED_MODULES if not (lib_dir() / f"dsbulk-{m}-{DSBULK_VERSION}.jar").exists()]
    if missing:
        raise HarnessError(
            f"{', '.join(f'dsbulk-{m}-{DSBULK_VERSION}.jar' for m in missing)} missing from {lib_dir()}: "
            f"remove {INSTALL_DIR} and install again"
        )
    mark_installed(INSTALL_DIR, DSBULK_VERSION)
    return lib_dir()


def dsbulk_command() -> list[str]:
    """The command running DSBulk (installed first if needed); append DSBulk's arguments."""
    return ["java", "-cp", f"{install()}/*", MAIN_CLASS]


USAGE = "usage: dsbulk.py install | dsbulk.py run ARGS..."


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "install":
            if rest:
                print(USAGE, file=sys.stderr)
                return 2
            print(install())
            return 0
        if command == "run":
            cmd = dsbulk_command() + rest
            sys.stdout.flush()
            # Exec: DSBulk's exit code and signals (Ctrl-C) are the caller's directly.
            os.execvp(cmd[0], cmd)
    except HarnessError as err:
        print(f"dsbulk: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # java not found
        print(f"dsbulk: error: cannot run java: {err}", file=sys.stderr)
        return 1
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
