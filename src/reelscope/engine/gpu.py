"""What the NVIDIA GPUs of this machine are doing, for ``/health/ready`` and ``reelscope status``.

Asks ``nvidia-smi`` rather than torch: it reports whole-device memory and utilisation, whoever
uses them (the system we replace reported only its own process's torch allocations, so a GPU
filled by another process looked free). No NVIDIA tooling means "no GPU here" (``None``); tooling
that is present but fails is a problem the caller must report, never an empty, healthy-looking list.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

QUERY_FIELDS = ("index", "name", "memory.used", "memory.total", "utilization.gpu", "temperature.gpu")
# What nvidia-smi prints (with nounits) for a value the device or driver does not report.
_MISSING = frozenset({"[n/a]", "n/a", "[not supported]", "not supported", "[unknown error]"})
_OUTPUT_TAIL_CHARS = 500


@dataclass(frozen=True)
class GpuStatus:
    index: int
    name: str
    memory_used_mib: float
    memory_total_mib: float
    utilization_percent: float | None
    temperature_c: float | None


def gpu_statuses(
    *,
    nvidia_smi: str | None = None,
    timeout_s: float = 5.0,
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
) -> list[GpuStatus] | None:
    """One GpuStatus per GPU, or None when ``nvidia-smi`` is not installed (no NVIDIA GPU here).

    ``nvidia_smi`` is the executable to run (found on PATH when None). Raises RuntimeError, with the
    reason, when nvidia-smi is present but fails, times out, lists no GPU or prints what we cannot
    parse: the caller reports that as an unhealthy check.
    """
    executable = nvidia_smi or shutil.which("nvidia-smi")
    if executable is None:
        return None
    stdout = _query(executable, timeout_s, run)
    statuses = parse_nvidia_smi_csv(stdout)
    if not statuses:
        raise RuntimeError("nvidia-smi ran but listed no GPU (driver loaded without devices?)")
    return statuses


def _query(executable: str, timeout_s: float, run: Callable[..., subprocess.CompletedProcess[str]]) -> str:
    command = [executable, f"--query-gpu={','.join(QUERY_FIELDS)}", "--format=csv,noheader,nounits"]
    try:
        result = run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"nvidia-smi did not answer within {timeout_s:g} s (hung driver?)") from exc
    except OSError as exc:
        raise RuntimeError(f"cannot run {executable}: {exc}") from exc
    if result.returncode != 0:
        # nvidia-smi prints its reason ("couldn't communicate with the NVIDIA driver") on stdout.
        said = _tail((result.stderr or "").strip() or (result.stdout or "").strip())
        raise RuntimeError(f"nvidia-smi exited with code {result.returncode}: {said or 'no output'}")
    return result.stdout or ""


def parse_nvidia_smi_csv(text: str) -> list[GpuStatus]:
    """Parse the CSV (no header, no units) of ``--query-gpu`` with QUERY_FIELDS, one line per GPU."""
    statuses = []
    for row in csv.reader(line for line in text.splitlines() if line.strip()):
        fields = [field.strip() for field in row]
        if len(fields) != len(QUERY_FIELDS):
            raise RuntimeError(f"nvidia-smi printed {len(fields)} fields where {len(QUERY_FIELDS)} were asked: {row}")
        index, name, used, total, utilization, temperature = fields
        statuses.append(
            GpuStatus(
                index=int(_required(index, "index")),
                name=name,
                memory_used_mib=_required(used, "memory.used"),
                memory_total_mib=_required(total, "memory.total"),
                utilization_percent=_optional(utilization, "utilization.gpu"),
                temperature_c=_optional(temperature, "temperature.gpu"),
            )
        )
    return statuses


def _optional(value: str, field: str) -> float | None:
    if value.lower() in _MISSING:
        return None
    return _number(value, field)


def _required(value: str, field: str) -> float:
    number = _optional(value, field)
    if number is None:
        raise RuntimeError(f"nvidia-smi does not report {field} on this device ({value})")
    return number


def _number(value: str, field: str) -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise RuntimeError(f"nvidia-smi printed {value!r} for {field}, not a number") from exc


def _tail(text: str) -> str:
    return text if len(text) <= _OUTPUT_TAIL_CHARS else "..." + text[-_OUTPUT_TAIL_CHARS:]
