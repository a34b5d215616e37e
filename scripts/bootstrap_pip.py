"""Install pip into the running interpreter from its wheel on PyPI.

Used by dev.sh on systems whose python3 has no ensurepip (Debian without
python3-venv). Only the standard library is needed: the pip wheel is run
directly as a zip archive, which pip supports for exactly this purpose.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

INDEX = "https://pypi.org/pypi/pip/json"


def main() -> int:
    """Download the newest pip wheel and install it; return the exit status."""
    with urllib.request.urlopen(INDEX, timeout=60) as answer:
        release = json.load(answer)
    wheel = next(f for f in release["urls"] if f["filename"].endswith(".whl"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / wheel["filename"]
        with urllib.request.urlopen(wheel["url"], timeout=120) as answer:  # noqa: S310
            data = answer.read()
        if hashlib.sha256(data).hexdigest() != wheel["digests"]["sha256"]:
            print("pip wheel checksum mismatch; not installing", file=sys.stderr)
            return 1
        path.write_bytes(data)
        command = [sys.executable, f"{path}/pip", "install", "--quiet", str(path)]
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
