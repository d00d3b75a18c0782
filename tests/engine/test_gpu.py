"""gpu_statuses: whole-device numbers from nvidia-smi's CSV, None without NVIDIA tooling, and a
RuntimeError (never an empty, healthy-looking list) when the tooling is there but fails."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from reelscope.engine import gpu
from reelscope.engine.gpu import QUERY_FIELDS, GpuStatus, gpu_statuses

ONE_GPU = "0, NVIDIA H100 80GB HBM3, 1234, 81559, 37, 41\n"
TWO_GPUS = "0, Quadro RTX 8000, 45000, 46080, 98, 83\n1, Quadro RTX 8000, 3, 46080, 0, 35\n"
UNREPORTED = "0, NVIDIA A100-SXM4-40GB MIG 3g.20gb, 512, 40960, [N/A], [Not Supported]\n"


class FakeRun:
    """Stands in for subprocess.run: records the call and answers with canned output."""

    def __init__(self, stdout: str = "", returncode: int = 0, stderr: str = "", raises: BaseException | None = None):
        self.result = subprocess.CompletedProcess([], returncode, stdout, stderr)
        self.raises = raises
        self.calls: list[tuple[list[str], dict]] = []

    def __call__(self, command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
        self.calls.append((command, kwargs))
        if self.raises is not None:
            raise self.raises
        return self.result


def test_one_gpu_is_parsed_with_whole_device_memory():
    run = FakeRun(ONE_GPU)
    statuses = gpu_statuses(nvidia_smi="/opt/nvidia-smi", run=run, timeout_s=2.5)
    assert statuses == [GpuStatus(0, "NVIDIA H100 80GB HBM3", 1234.0, 81559.0, 37.0, 41.0)]
    command, kwargs = run.calls[0]
    assert command == [
        "/opt/nvidia-smi",
        "--query-gpu=index,name,memory.used,memory.total,utilization.gpu,temperature.gpu",
        "--format=csv,noheader,nounits",
    ]
    assert kwargs["timeout"] == 2.5
    assert kwargs["capture_output"] is True


def test_two_gpus_keep_their_own_numbers():
    statuses = gpu_statuses(nvidia_smi="nvidia-smi", run=FakeRun(TWO_GPUS))
    assert [s.index for s in statuses] == [0, 1]
    assert [s.memory_used_mib for s in statuses] == [45000.0, 3.0]
    assert [s.utilization_percent for s in statuses] == [98.0, 0.0]
    assert [s.temperature_c for s in statuses] == [83.0, 35.0]
    assert all(s.memory_total_mib == 46080.0 for s in statuses)


def test_not_reported_fields_become_none():
    (status,) = gpu_statuses(nvidia_smi="nvidia-smi", run=FakeRun(UNREPORTED))
    assert status.name == "NVIDIA A100-SXM4-40GB MIG 3g.20gb"
    assert status.memory_used_mib == 512.0
    assert status.utilization_percent is None
    assert status.temperature_c is None


def test_no_nvidia_smi_means_no_gpu(monkeypatch):
    monkeypatch.setattr(gpu.shutil, "which", lambda name: None)
    run = FakeRun(ONE_GPU)
    assert gpu_statuses(run=run) is None
    assert run.calls == []


def test_nvidia_smi_on_path_is_used(monkeypatch):
    monkeypatch.setattr(gpu.shutil, "which", lambda name: f"/usr/bin/{name}")
    run = FakeRun(ONE_GPU)
    assert len(gpu_statuses(run=run)) == 1
    assert run.calls[0][0][0] == "/usr/bin/nvidia-smi"


def test_failing_nvidia_smi_raises_with_its_reason():
    message = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
    with pytest.raises(RuntimeError, match="code 9: NVIDIA-SMI has failed"):
        gpu_statuses(nvidia_smi="nvidia-smi", run=FakeRun(stdout=message, returncode=9))


def test_hung_nvidia_smi_raises_runtime_error():
    hung = subprocess.TimeoutExpired(["nvidia-smi"], 5.0)
    with pytest.raises(RuntimeError, match="did not answer within 5 s") as caught:
        gpu_statuses(nvidia_smi="nvidia-smi", run=FakeRun(raises=hung))
    assert caught.value.__cause__ is hung


def test_unrunnable_nvidia_smi_raises_runtime_error():
    with pytest.raises(RuntimeError, match="cannot run"):
        gpu_statuses(nvidia_smi="nvidia-smi", run=FakeRun(raises=PermissionError(13, "Permission denied")))


def test_no_gpu_listed_is_an_error_not_an_empty_list():
    with pytest.raises(RuntimeError, match="listed no GPU"):
        gpu_statuses(nvidia_smi="nvidia-smi", run=FakeRun(stdout="\n"))


@pytest.mark.parametrize(
    ("stdout", "problem"),
    [
        ("0, Tesla T4, 10, 15360, 5\n", "5 fields"),
        ("0, Tesla T4, lots, 15360, 5, 40\n", "'lots' for memory.used"),
        ("0, Tesla T4, [N/A], 15360, 5, 40\n", "does not report memory.used"),
    ],
)
def test_output_we_cannot_read_raises(stdout, problem):
    with pytest.raises(RuntimeError, match=problem):
        gpu_statuses(nvidia_smi="nvidia-smi", run=FakeRun(stdout))


@pytest.mark.skipif(os.name != "posix", reason="runs a shell-script stand-in for nvidia-smi")
def test_real_subprocess_against_a_stand_in_executable(tmp_path: Path):
    """The default ``run`` (subprocess.run) with a script that checks its arguments like nvidia-smi would."""
    script = tmp_path / "nvidia-smi"
    expected = f"--query-gpu={','.join(QUERY_FIELDS)}"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"if sys.argv[1:] != [{expected!r}, '--format=csv,noheader,nounits']:\n"
        "    print('bad arguments', sys.argv[1:]); sys.exit(2)\n"
        f"print({TWO_GPUS!r}, end='')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    statuses = gpu_statuses(nvidia_smi=str(script))
    assert [s.name for s in statuses] == ["Quadro RTX 8000", "Quadro RTX 8000"]
    assert statuses[0].memory_used_mib == 45000.0
