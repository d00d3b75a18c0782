"""Speech test material with known truth, shared by the tests and bench/speech.py: the real clips
and their transcripts (../shared/media/ground_truth.json), espeak-ng speech in English and German,
and word error rate with one normaliser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

SHARED_MEDIA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "media").resolve()
RATE_HZ = 16000
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

ENGLISH_TEXT = (
    "Today I will show you three easy tricks for a perfect breakfast. First, crack two eggs into a warm pan. "
    "Then add some butter and a little salt. Stir slowly and take the pan off the heat before the eggs are dry."
)
GERMAN_TEXT = (
    "Heute zeige ich euch drei einfache Tricks für das perfekte Frühstück. Zuerst schlagt ihr zwei Eier in "
    "eine warme Pfanne. Dann kommt etwas Butter und ein wenig Salz dazu. Rührt langsam und nehmt die Pfanne "
    "vom Herd, bevor die Eier trocken sind."
)


def normalise(text: str) -> list[str]:
    """Lower case, no punctuation, digits spelt out, a GRID letter+digit token ("P2") split in two."""
    words = []
    for token in re.sub(r"[^\w\s']", " ", text.lower()).split():
        match = re.fullmatch(r"([a-z]?)(\d+)", token)
        if match and int(match.group(2)) <= 10:
            words += [w for w in (match.group(1), DIGITS[int(match.group(2))]) if w]
        else:
            words.append(token)
    return words


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    ref, hyp = " ".join(normalise(reference)), " ".join(normalise(hypothesis))
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp)) if hyp else 1.0


def ground_truth() -> dict:
    return json.loads((SHARED_MEDIA / "ground_truth.json").read_text())


def transcripts() -> dict[str, str]:
    """Relative path under shared/media -> reference transcript, for every clip that has one."""
    truth = ground_truth()
    out = {"speech/jfk.flac": truth["speech/jfk.flac"]["transcript"]}
    for name, entry in truth["grid_corpus"].items():
        if not name.startswith("_"):
            out[f"grid_corpus/{name}"] = entry["transcript"]
    return out


def decode(path: Path, rate_hz: int = RATE_HZ) -> np.ndarray:
    """Mono float32 at ``rate_hz`` through PyAV (faster-whisper's decoder), from any container."""
    from faster_whisper.audio import decode_audio

    return decode_audio(str(path), sampling_rate=rate_hz)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak(text: str, path: Path, voice: str = "en", words_per_min: int = 160, pitch: int = 50) -> Path:
    """Speak ``text`` into a wav file with Debian's espeak-ng (robotic, but real phonetics)."""
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(words_per_min), "-p", str(pitch), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    return path
