"""YOLOX (COCO, 80 classes) run with onnxruntime: letterbox, decode of the raw grid output, NMS.

The exported YOLOX graph outputs one row per grid cell of the three strides (8, 16, 32):
``[cx, cy, log_w, log_h, objectness, 80 class probabilities]`` with the box still in grid units
and no NMS. YOLOX was trained on BGR images without mean/std normalisation, so the frame goes in
as raw 0..255 floats, letterboxed into the top-left corner of a square padded with grey 114.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

# COCO 2017 detection classes in the model's output order, snake_case as reelscope labels are.
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic_light", "fire_hydrant", "stop_sign", "parking_meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports_ball", "kite",
    "baseball_bat", "baseball_glove", "skateboard", "surfboard", "tennis_racket", "bottle",
    "wine_glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot_dog", "pizza", "donut", "cake", "chair", "couch", "potted_plant",
    "bed", "dining_table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell_phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy_bear", "hair_drier", "toothbrush",
)  # fmt: skip

STRIDES = (8, 16, 32)
PAD_VALUE = 114  # YOLOX's own letterbox grey
NMS_IOU = 0.45


@dataclass(frozen=True)
class Detection:
    """One box in the frame's pixels: ``box_px`` is ``[x, y, w, h]`` (top-left, size)."""

    class_id: int
    score: float
    box_px: tuple[float, float, float, float]

    @property
    def label(self) -> str:
        return COCO_CLASSES[self.class_id]


def letterbox(image_bgr: np.ndarray, input_size: int) -> tuple[np.ndarray, float]:
    """The image scaled to fit ``input_size`` square (aspect kept), top-left aligned, as a
    ``(1, 3, S, S)`` float32 tensor of raw 0..255 values, and the scale factor applied."""
    h, w = image_bgr.shape[:2]
    ratio = min(input_size / h, input_size / w)
    new_w, new_h = max(1, round(w * ratio)), max(1, round(h * ratio))
    padded = np.full((input_size, input_size, 3), PAD_VALUE, dtype=np.uint8)
    interp = cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR
    padded[:new_h, :new_w] = cv2.resize(image_bgr, (new_w, new_h), interpolation=interp)
    tensor = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
    return tensor, ratio


def grid_and_strides(input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output row: its grid cell ``(gx, gy)`` and its stride, in the order the graph emits them."""
    grids, strides = [], []
    for stride in STRIDES:
        cells = input_size // stride
        gy, gx = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grids.append(np.stack([gx.ravel(), gy.ravel()], axis=1))
        strides.append(np.full((cells * cells, 1), stride))
    return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)


def decode(
    raw: np.ndarray, input_size: int, ratio: float, min_score: float, frame_wh: tuple[int, int]
) -> list[Detection]:
    """Raw ``(rows, 5 + classes)`` output -> NMS-filtered detections in the original frame's pixels."""
    grid, stride = grid_and_strides(input_size)
    if raw.shape[0] != grid.shape[0]:
        raise ValueError(f"model emitted {raw.shape[0]} rows; input size {input_size} implies {grid.shape[0]}")
    class_scores = raw[:, 5:] * raw[:, 4:5]  # score = objectness x class probability
    class_ids = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(class_ids)), class_ids]
    keep = scores >= min_score
    if not keep.any():
        return []
    rows, class_ids, scores = raw[keep], class_ids[keep], scores[keep]
    centre = (rows[:, :2] + grid[keep]) * stride[keep]
    size = np.exp(rows[:, 2:4]) * stride[keep]
    boxes = np.concatenate([centre - size / 2, size], axis=1) / ratio  # back to the frame's pixels
    frame_w, frame_h = frame_wh
    # Clip to the frame: the padding and the box regression can reach past its edges.
    x0 = np.clip(boxes[:, 0], 0, frame_w)
    y0 = np.clip(boxes[:, 1], 0, frame_h)
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, frame_w)
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, frame_h)
    boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
    picked = cv2.dnn.NMSBoxesBatched(
        boxes.tolist(), scores.astype(float).tolist(), class_ids.astype(int).tolist(), min_score, NMS_IOU
    )
    out = [
        Detection(int(class_ids[i]), float(scores[i]), tuple(float(v) for v in boxes[i]))
        for i in np.asarray(picked, dtype=np.int64).ravel()
        if boxes[i, 2] > 0 and boxes[i, 3] > 0
    ]
    return sorted(out, key=lambda d: -d.score)


class YoloxDetector:
    """One onnxruntime session on one thread (warm workers run one analyzer each)."""

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        side = model_input.shape[-1]
        # A static export fixes its input side; a dynamic one takes any multiple of 32.
        self.fixed_input_size: int | None = side if isinstance(side, int) else None

    def detect(self, image_rgb: np.ndarray, input_size: int, min_score: float) -> list[Detection]:
        """Detections in ``image_rgb`` (H, W, 3 uint8 RGB), boxes in its pixels, best first."""
        tensor, ratio = letterbox(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), input_size)
        raw = self._session.run(None, {self._input_name: tensor})[0][0]
        h, w = image_rgb.shape[:2]
        return decode(raw, input_size, ratio, min_score, (w, h))
