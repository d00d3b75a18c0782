"""text_overlay on caption overlays with known text rendered onto real video frames
(tests/ocr_frames.py), and the caption merge logic on hand-made OCR lines."""

from __future__ import annotations

from pathlib import Path

import jiwer
import numpy as np
import pytest

import ocr_frames as of
from reelscope.analyzers.base import AnalysisContext, MediaView
from reelscope.analyzers.visual.ocr_captions import TextBlock, TextLine, group_blocks, merge_captions, normalise
from reelscope.analyzers.visual.text_overlay import TextOverlay
from reelscope.core.media_info import MediaInfo
from reelscope.media.bundle import FrameSet

HAMILTON = "people/short_hamilton_clip.mp4"  # a speaker, moving; no text in the centre crop
TESTVIDEO = "pyscenedetect/testvideo.mp4"  # film scenes with a credit line at the bottom
SHORT_SIDE_PX = TextOverlay.validate_params({}).short_side_px
CER_MAX = 0.02


@pytest.fixture(scope="module")
def analyzer() -> TextOverlay:
    a = TextOverlay()
    yield a
    a.close()


def _run(analyzer: TextOverlay, images: list[np.ndarray], times_s: list[float], **params):
    frames = FrameSet(np.stack([of.downscale(img, SHORT_SIDE_PX) for img in images]), np.asarray(times_s, dtype=float))
    h, w = frames.images.shape[1:3]
    period_s = times_s[1] - times_s[0] if len(times_s) > 1 else 0.5
    media = MediaInfo(
        path="synthetic", file_size_bytes=0, sha256="0", container="none", duration_s=times_s[-1] + period_s,
        has_video=True, has_audio=False, width=w, height=h,
    )  # fmt: skip
    p = TextOverlay.validate_params(params)
    return analyzer.analyze(MediaView(media, frames), AnalysisContext(params=p))


@pytest.mark.parametrize(
    ("clip", "size", "y_frac"),
    [(HAMILTON, of.PORTRAIT, 0.7), (TESTVIDEO, of.LANDSCAPE, 0.4)],  # 16:9 above the film's credit line
    ids=["9x16", "16x9"],
)
def test_reads_english_and_german_overlays(analyzer, shared_media: Path, clip, size, y_frac) -> None:
    # One line per second on changing backgrounds: every frame holds new text, so the change
    # signal must fire each time, and each caption must end where the next begins.
    bgs = of.backgrounds(shared_media / clip, [1.0 + i for i in range(len(of.LINES))], size)
    drawn = [of.draw_caption(bg, line, y_frac=y_frac) for bg, line in zip(bgs, of.LINES, strict=True)]
    times_s = [float(i) for i in range(len(of.LINES))]
    out = _run(analyzer, [img for img, _ in drawn], times_s)
    captions = [c for c in out.segments_of("caption") if c.attributes["box"][1] < 0.8]  # not the credit line
    assert [c.start_s for c in captions] == times_s
    assert [c.end_s for c in captions] == times_s[1:] + [len(of.LINES)]
    for cap, (_, overlay) in zip(captions, drawn, strict=True):
        cer = jiwer.cer(overlay.text, cap.attributes["text"])
        print(f"{size[0]}x{size[1]} @ short side {SHORT_SIDE_PX}: CER {cer:.3f} {cap.attributes['text']!r}")
        assert cer <= CER_MAX, (overlay.text, cap.attributes["text"])
        assert cap.label == "text" and 0.7 <= cap.score <= 1.0
        x, y, w, h = cap.attributes["box"]
        bx, by, bw, bh = overlay.box
        assert abs(x - bx) < 0.03 and abs(y - by) < 0.03 and abs(x + w - bx - bw) < 0.03
        assert (
            cap.attributes["lines"] == list(overlay.lines) if len(overlay.lines) > 1 else "lines" not in cap.attributes
        )
    assert out.summary["ocr_frames"] == out.summary["frames_sampled"] == len(of.LINES)


def test_caption_a_then_b_gives_two_timed_captions(analyzer, shared_media: Path) -> None:
    # 2 Hz over a moving speaker: A for 0-2 s, B for 2-4 s in the same place. OCR is not forced
    # (max_interval_s large), so B is found only through the change signal.
    times_s = [0.5 * i for i in range(8)]
    bgs = of.backgrounds(shared_media / HAMILTON, [1.0 + t for t in times_s], of.PORTRAIT)
    images = [
        of.draw_caption(bg, "Wait for the end!!" if t < 2 else "Link in bio: 50% OFF")[0]
        for bg, t in zip(bgs, times_s, strict=True)
    ]
    out = _run(analyzer, images, times_s, max_interval_s=10)
    caps = out.segments_of("caption")
    assert [c.attributes["text"] for c in caps] == ["Wait for the end!!", "Link in bio: 50% OFF"]
    period_s = 0.5
    assert caps[0].start_s == pytest.approx(0.0, abs=period_s)
    assert caps[0].end_s == pytest.approx(2.0, abs=period_s)
    assert caps[1].start_s == pytest.approx(2.0, abs=period_s)
    assert caps[1].end_s == pytest.approx(4.0, abs=period_s)
    assert [c.attributes["frames_seen"] for c in caps] == [4, 4]
    s = out.summary
    assert s["caption_count"] == 2 and s["frames_sampled"] == 8
    assert 2 <= s["ocr_frames"] < 8  # first frame + the change, not every frame
    assert s["all_text"] == "Wait for the end!!\nLink in bio: 50% OFF"
    assert s["text_on_screen_share"] == pytest.approx(1.0)
    assert out.track("text_lines").values == [1.0] * 8


def test_unchanged_text_is_read_once_and_a_vanished_one_ends(analyzer, shared_media: Path) -> None:
    # 16:9 film frames at 2 Hz: a caption for 0-2.5 s, then none until 4 s.
    times_s = [0.5 * i for i in range(8)]
    bgs = of.backgrounds(shared_media / TESTVIDEO, [2.0 + t for t in times_s], of.LANDSCAPE)
    images = [
        of.draw_caption(bg, "Straße schließt um 18 Uhr", y_frac=0.4)[0] if t < 2.5 else bg
        for bg, t in zip(bgs, times_s, strict=True)
    ]
    out = _run(analyzer, images, times_s, max_interval_s=10)
    caps = [c for c in out.segments_of("caption") if "Straße" in c.attributes["text"]]
    assert len(caps) == 1
    assert caps[0].attributes["text"] == "Straße schließt um 18 Uhr"
    assert (caps[0].start_s, caps[0].end_s) == (0.0, 2.5)
    assert caps[0].attributes["frames_seen"] == 5
    assert out.summary["ocr_frames"] < out.summary["frames_sampled"] == 8
    assert caps[0].attributes["ocr_readings"] <= out.summary["ocr_frames"] - 1  # it was read when it vanished, too


def test_frame_without_text_gives_no_caption(analyzer, shared_media: Path) -> None:
    bgs = of.backgrounds(shared_media / HAMILTON, [2.0, 6.0], of.PORTRAIT)
    out = _run(analyzer, bgs, [0.0, 0.5])
    assert out.segments == []
    assert out.summary["caption_count"] == 0 and out.summary["all_text"] == ""
    assert out.summary["text_on_screen_share"] == 0.0
    assert out.track("text_lines").values == [0.0, 0.0]


def test_no_frames() -> None:
    media = MediaInfo(
        path="a.wav", file_size_bytes=0, sha256="0", container="wav", duration_s=1.0, has_video=False, has_audio=True
    )
    # analyze needs no OCR for this: build without __init__ so the test stays model-free
    out = TextOverlay.__new__(TextOverlay).analyze(
        MediaView(media), AnalysisContext(params=TextOverlay.validate_params({}))
    )
    assert out.segments == [] and out.summary["caption_count"] == 0 and out.summary["ocr_frames"] == 0


def test_needs_follow_params_and_model_check(monkeypatch) -> None:
    req = TextOverlay.needs(TextOverlay.validate_params({"rate_hz": 1, "short_side_px": 480})).frames
    assert (req.rate_hz, req.short_side_px, req.pixel_format) == (1, 480, "rgb24")
    assert TextOverlay.unavailable_reason() is None

    class Missing:
        state, detail, fix = "missing", "package(s) not installed: rapidocr", "pip install rapidocr==3.10.0"

    monkeypatch.setattr("reelscope.models.files.status", lambda name: Missing)
    reason, fix = TextOverlay.unavailable_reason()
    assert "rapidocr" in reason and fix == "pip install rapidocr==3.10.0"


# ------------------------------------------------------------------ merge logic, no OCR


def _block(text: str, y: float = 0.7, score: float = 0.95, x: float = 0.2) -> TextBlock:
    return TextBlock((text,), score, (x, y, 0.6, 0.04))


def test_normalise_keeps_umlauts_and_sharp_s() -> None:
    decomposed = "Gro\u0308ßte U\u0308berraschung"
    assert normalise(decomposed) == normalise("GRÖßTE   Überraschung") == "größte überraschung"


def test_misread_frame_stays_one_caption_with_the_best_reading() -> None:
    frames = [
        [_block("Wait for the end!!")],
        [_block("Wait tor the end!", score=0.97)],
        [_block("Wait for the end!!")],
        [],
    ]
    caps = merge_captions(frames, [True] * 4, [0.0, 0.5, 1.0, 1.5], 2.0)
    assert len(caps) == 1
    assert caps[0].text == "Wait for the end!!"  # two readings outvote one more confident misread
    assert (caps[0].start_s, caps[0].end_s, caps[0].frames_seen, caps[0].readings) == (0.0, 1.5, 3, 3)


def test_new_text_or_new_place_is_a_new_caption() -> None:
    frames = [
        [_block("Heute: Äpfel & Öl kaufen")],
        [_block("Link in bio: 50% OFF")],
        [_block("Link in bio: 50% OFF", y=0.1)],
    ]
    caps = merge_captions(frames, [True] * 3, [0.0, 1.0, 2.0], 3.0)
    assert [(c.text, c.start_s, c.end_s) for c in caps] == [
        ("Heute: Äpfel & Öl kaufen", 0.0, 1.0),
        ("Link in bio: 50% OFF", 1.0, 2.0),
        ("Link in bio: 50% OFF", 2.0, 3.0),
    ]


def test_short_gap_is_bridged_but_inherited_frames_do_not_vote() -> None:
    a = _block("Straße schließt um 18 Uhr")
    frames = [[a], [a], [], [a], [a]]
    caps = merge_captions(frames, [True, False, True, True, False], [0.0, 0.5, 1.0, 1.5, 2.0], 2.5, max_gap_s=1.0)
    assert len(caps) == 1 and (caps[0].start_s, caps[0].end_s) == (0.0, 2.5)
    assert caps[0].frames_seen == 4 and caps[0].readings == 2
    split = merge_captions(frames, [True] * 5, [0.0, 0.5, 1.0, 1.5, 2.0], 2.5, max_gap_s=0.4)
    assert [(c.start_s, c.end_s) for c in split] == [(0.0, 1.0), (1.5, 2.5)]


def test_wrapped_lines_join_and_a_credit_line_stays_apart() -> None:
    lines = [
        TextLine("Jürgen", 0.9, (0.40, 0.75, 0.20, 0.04)),  # second wrapped line, centred
        TextLine("Größte Überraschung für", 0.99, (0.12, 0.70, 0.76, 0.045)),
        TextLine("www.example.com", 0.99, (0.70, 0.80, 0.25, 0.025)),  # a smaller credit line right below
        TextLine("Copyright 2024", 0.99, (0.05, 0.80, 0.30, 0.025)),  # same row as the credit
    ]
    blocks = group_blocks(lines)
    assert [b.lines for b in blocks] == [("Größte Überraschung für", "Jürgen"), ("Copyright 2024 www.example.com",)]
    assert blocks[0].text == "Größte Überraschung für Jürgen"
    assert blocks[0].box == pytest.approx((0.12, 0.70, 0.76, 0.09))
