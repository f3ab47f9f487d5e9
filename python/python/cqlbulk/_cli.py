"""The ``cqlbulk`` command the package installs: the same program as the release binary."""

import sys

from . import _native


def main() -> None:
    sys.exit(_native.main(["cqlbulk"] + sys.argv[1:]))
