"""YAMNet runner: the log-mel front end in numpy and the int8 ONNX classifier (onnxruntime), giving
sigmoid scores for the 521 AudioSet classes on 0.96 s patches every 0.48 s.

The model file is Qualcomm AI Hub's quantised export, which takes the log-mel patch, not the
waveform: the front end below reproduces YAMNet's own (16 kHz mono; 25 ms periodic Hann windows
centred in 512-sample frames every 10 ms, no centre padding; magnitude spectrum; 64 HTK mel bands
125-7500 Hz without area normalisation; ``log(mel + 1e-6)``; 96-frame patches every 48 frames).
Input and output quantisation (scale, zero point) are read from the graph's initializers.
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit

from reelscope.core.errors import ModelUnavailable
from reelscope.models.files import resolve

SAMPLE_RATE_HZ = 16000
FRAME_SAMPLES = 512  # FFT size
WINDOW_SAMPLES = 400  # 25 ms Hann, zero-padded to FRAME_SAMPLES, centred
FRAME_HOP_SAMPLES = 160  # 10 ms
N_MELS = 64
MEL_FMIN_HZ = 125.0
MEL_FMAX_HZ = 7500.0
LOG_OFFSET = 1e-6
PATCH_FRAMES = 96
PATCH_HOP_FRAMES = 48
PATCH_S = PATCH_FRAMES * FRAME_HOP_SAMPLES / SAMPLE_RATE_HZ  # 0.96
PATCH_HOP_S = PATCH_HOP_FRAMES * FRAME_HOP_SAMPLES / SAMPLE_RATE_HZ  # 0.48
# Google's YAMNet zero-pads the audio to whole patches; here a last patch running past the end is
# kept (zero-padded) only when at least this share of it is real audio: more padding reads as silence.
MIN_LAST_PATCH_AUDIO = 0.75

INPUT_NAME = "audio"
OUTPUT_NAME = "class_scores"
N_CLASSES = 521


@dataclass(frozen=True)
class Quantisation:
    """``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int


@functools.cache
def _mel_filterbank() -> np.ndarray:
    import librosa

    # (N_MELS, FRAME_SAMPLES // 2 + 1); norm=None: YAMNet's triangles peak at 1, not unit area
    fb = librosa.filters.mel(
        sr=SAMPLE_RATE_HZ, n_fft=FRAME_SAMPLES, n_mels=N_MELS, fmin=MEL_FMIN_HZ, fmax=MEL_FMAX_HZ, htk=True, norm=None
    )
    return fb.astype(np.float32)


@functools.cache
def _frame_window() -> np.ndarray:
    from scipy.signal import get_window

    window = np.zeros(FRAME_SAMPLES, dtype=np.float32)
    offset = (FRAME_SAMPLES - WINDOW_SAMPLES) // 2
    window[offset : offset + WINDOW_SAMPLES] = get_window("hann", WINDOW_SAMPLES, fftbins=True)  # periodic
    return window


def log_mel(samples_16k: np.ndarray) -> np.ndarray:
    """(frames, N_MELS) log mel magnitudes of 16 kHz mono audio; frame i starts at sample 160*i."""
    y = np.asarray(samples_16k, dtype=np.float32)
    if y.shape[0] < FRAME_SAMPLES:
        return np.zeros((0, N_MELS), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(y, FRAME_SAMPLES)[::FRAME_HOP_SAMPLES]
    magnitude = np.abs(np.fft.rfft(frames * _frame_window(), axis=1)).astype(np.float32)
    return np.log(magnitude @ _mel_filterbank().T + LOG_OFFSET)


def patch_count(n_samples: int) -> int:
    """How many patches cover ``n_samples`` of 16 kHz audio (see MIN_LAST_PATCH_AUDIO); a clip
    shorter than one patch still gets one (padded) patch, an empty clip none."""
    if n_samples <= 0:
        return 0
    duration_s = n_samples / SAMPLE_RATE_HZ
    if duration_s <= PATCH_S:
        return 1
    full = 1 + math.floor((duration_s - PATCH_S) / PATCH_HOP_S + 1e-9)
    tail_s = duration_s - ((full - 1) * PATCH_HOP_S + PATCH_S)
    # the next patch holds PATCH_HOP_S of audio already covered plus the tail
    return full + 1 if (PATCH_HOP_S + tail_s) / PATCH_S >= MIN_LAST_PATCH_AUDIO else full


def patches(samples_16k: np.ndarray) -> np.ndarray:
    """(n, PATCH_FRAMES, N_MELS) log-mel patches; patch k covers [k*0.48, k*0.48 + 0.96) s."""
    y = np.asarray(samples_16k, dtype=np.float32)
    n = patch_count(y.shape[0])
    if n == 0:
        return np.zeros((0, PATCH_FRAMES, N_MELS), dtype=np.float32)
    frames_needed = (n - 1) * PATCH_HOP_FRAMES + PATCH_FRAMES
    samples_needed = (frames_needed - 1) * FRAME_HOP_SAMPLES + FRAME_SAMPLES
    if y.shape[0] < samples_needed:
        y = np.concatenate([y, np.zeros(samples_needed - y.shape[0], dtype=np.float32)])
    mel = log_mel(y[:samples_needed])
    starts = np.arange(n) * PATCH_HOP_FRAMES
    return np.stack([mel[s : s + PATCH_FRAMES] for s in starts])


def read_class_names(csv_path: Path) -> tuple[str, ...]:
    """Display names by class index from ``yamnet_class_map.csv`` (index,mid,display_name)."""
    with csv_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    names = [""] * len(rows)
    for row in rows:
        names[int(row["index"])] = row["display_name"]
    if len(names) != N_CLASSES or not all(names):
        raise ValueError(f"{csv_path}: expected {N_CLASSES} classes indexed 0..{N_CLASSES - 1}")
    return tuple(names)


def read_quantisation(onnx_path: Path, tensor: str) -> Quantisation:
    """Scale and zero point of the QuantizeLinear/DequantizeLinear pair on graph input/output
    ``tensor``: the initializers ``<tensor>_scale`` and ``<tensor>_zero_point`` of the export.

    The onnx package is not a dependency; protobuf is (through onnxruntime), so the few fields
    needed (ModelProto.graph=7, GraphProto.initializer=5, TensorProto dims/data_type/float_data/
    int32_data/name/raw_data) are declared here and everything else in the file is skipped.
    """
    initializers = _initializers(onnx_path, {f"{tensor}_scale", f"{tensor}_zero_point"})
    scale, zero_point = initializers.get(f"{tensor}_scale"), initializers.get(f"{tensor}_zero_point")
    if scale is None or zero_point is None or scale.size != 1 or zero_point.size != 1:
        raise ValueError(f"{onnx_path}: no scalar quantisation initializers for {tensor!r}")
    return Quantisation(scale=float(scale.item()), zero_point=int(zero_point.item()))


_ONNX_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32}


def _initializers(onnx_path: Path, names: set[str]) -> dict[str, np.ndarray]:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="reelscope_onnx_subset.proto", package="reelscope_onnx_subset")
    fdp.syntax = "proto2"
    field = descriptor_pb2.FieldDescriptorProto
    layout = {
        "TensorProto": [
            ("dims", 1, field.TYPE_INT64, field.LABEL_REPEATED, None),
            ("data_type", 2, field.TYPE_INT32, field.LABEL_OPTIONAL, None),
            ("float_data", 4, field.TYPE_FLOAT, field.LABEL_REPEATED, None),
            ("int32_data", 5, field.TYPE_INT32, field.LABEL_REPEATED, None),
            ("name", 8, field.TYPE_STRING, field.LABEL_OPTIONAL, None),
            ("raw_data", 9, field.TYPE_BYTES, field.LABEL_OPTIONAL, None),
        ],
        "GraphProto": [("initializer", 5, field.TYPE_MESSAGE, field.LABEL_REPEATED, "TensorProto")],
        "ModelProto": [("graph", 7, field.TYPE_MESSAGE, field.LABEL_OPTIONAL, "GraphProto")],
    }
    for message, fields in layout.items():
        proto = fdp.message_type.add(name=message)
        for name, number, ftype, label, type_name in fields:
            f = proto.field.add(name=name, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = f".reelscope_onnx_subset.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    model_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("reelscope_onnx_subset.ModelProto"))
    model = model_cls()
    model.ParseFromString(onnx_path.read_bytes())
    out = {}
    for tensor in model.graph.initializer:
        if tensor.name not in names:
            continue
        dtype = _ONNX_DTYPES.get(tensor.data_type)
        if dtype is None:
            raise ValueError(f"{onnx_path}: initializer {tensor.name} has unsupported data type {tensor.data_type}")
        if tensor.raw_data:
            values = np.frombuffer(tensor.raw_data, dtype=np.dtype(dtype).newbyteorder("<"))
        elif dtype is np.float32:
            values = np.asarray(tensor.float_data, dtype=np.float32)
        else:  # ONNX stores int8/uint8/int32 in int32_data when raw_data is empty
            values = np.asarray(tensor.int32_data).astype(dtype)
        out[tensor.name] = values
    return out


class YamnetModel:
    """One onnxruntime session for the life of the worker; ``scores`` runs any length of audio."""

    def __init__(self, folder: Path) -> None:
        import onnxruntime

        onnx_path = folder / "model.onnx"
        self.class_names = read_class_names(folder / "yamnet_class_map.csv")
        self.input_quant = read_quantisation(onnx_path, INPUT_NAME)
        self.output_quant = read_quantisation(onnx_path, OUTPUT_NAME)
        options = onnxruntime.SessionOptions()
        # one core per analyzer task: the engine runs tasks side by side, not one task on all cores
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # the path (not bytes) so onnxruntime finds the external weights model.data next to it
        self._session = onnxruntime.InferenceSession(
            str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if (
            [i.name for i in inputs] != [INPUT_NAME]
            or inputs[0].type != "tensor(uint8)"
            or list(inputs[0].shape) != [1, 1, PATCH_FRAMES, N_MELS]
            or [o.name for o in outputs] != [OUTPUT_NAME]
            or list(outputs[0].shape) != [1, N_CLASSES]
        ):
            raise ValueError(f"{onnx_path}: not the expected YAMNet export (uint8 [1,1,96,64] -> [1,521])")

    def scores(self, samples: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
        """(n_patches, 521) sigmoid scores of mono audio; row k is the patch [k*0.48, k*0.48 + 0.96) s.
        Audio at another rate is resampled to 16 kHz first (polyphase, e.g. 320/441 from 22050 Hz)."""
        if sample_rate_hz != SAMPLE_RATE_HZ:
            from scipy.signal import resample_poly

            g = math.gcd(SAMPLE_RATE_HZ, int(sample_rate_hz))
            samples = resample_poly(samples, SAMPLE_RATE_HZ // g, int(sample_rate_hz) // g)
        batch = patches(samples)
        q_in = self.input_quant
        quantised = np.clip(np.round(batch / q_in.scale) + q_in.zero_point, 0, 255).astype(np.uint8)
        logits_q = np.empty((batch.shape[0], N_CLASSES), dtype=np.uint8)
        for k in range(batch.shape[0]):  # the export's batch size is fixed at 1
            (logits_q[k],) = self._session.run([OUTPUT_NAME], {INPUT_NAME: quantised[k][None, None]})[0]
        q_out = self.output_quant
        logits = q_out.scale * (logits_q.astype(np.float32) - q_out.zero_point)
        return expit(logits)


def load() -> tuple[YamnetModel | None, dict | None]:
    """``(model, None)``, or ``(None, {"reason", "fix"})`` when the model files or onnxruntime are
    missing: callers deliver what they can without it and say why events are absent."""
    try:
        return YamnetModel(resolve("yamnet")), None
    except ModelUnavailable as exc:
        return None, {"reason": exc.message, "fix": exc.fix}
    except ImportError as exc:
        return None, {"reason": f"cannot import {exc.name}", "fix": "pip install onnxruntime"}
