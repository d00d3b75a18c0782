"""Subtitles from a report's transcript: cues that are pleasant to read, written as WebVTT or SRT.

Cues are cut from speech_transcription's word segments. Within one sentence (one Whisper
segment) the cut points are chosen together by dynamic programming: every cue fits its lines and
spans at most ``max_cue_s`` of speech; among those cuttings the cheapest has few cues, cuts after
punctuation or at a pause (so words do not show before they are said), leaves each cue the time
to read it at ``max_chars_per_s``, leaves no one-word scraps, and balances its cues and lines. A
cue never spans two sentences and never cuts a word; words Whisper split ("self" "-starter") are
joined back as the sentence text writes them, and a language written without spaces is joined
without them.

Reading speed shapes the timing, not the number of cues: a cue stays up after its last word
until it can be read (and at least ``min_cue_s``), unless the next cue starts sooner. Cutting a
cue in continuous speech cannot slow it down (its parts share the same seconds), so a fast
speaker gets ordinary cues, not a flicker of one-word cues (``max_chars_per_s`` as a hard split
rule cut a real 22 characters/s sentence into seven cues of 0.4 to 1.2 s).

All times are whole milliseconds inside, so the written timestamps are exact and cues never
overlap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from reelscope.core.errors import NotInReport
from reelscope.core.report import AnalysisReport
from reelscope.core.results import AnalyzerOutput, OutcomeStatus

TRANSCRIPTION = "speech_transcription"

_PAUSE_MS = 500  # a gap between words this long reads as a phrase boundary
_CLOSERS = "\"')]}\u00bb\u201d\u2019"  # quotes and brackets after a word's punctuation
# Costs of a cutting, counted in cues: a cut mid-phrase costs two extra cues, so a third cue cut
# at punctuation beats two cues cut mid-phrase.
_CUE_COST = 1.0
_CUT_COST = {"sentence_end": 0.0, "pause": 0.0, "clause": 0.25, "mid_phrase": 2.0}
_EARLY_COST = 2.0  # per second a cue shows words before they are said (the silences inside it)
_UNREAD_COST = 2.0  # per second of reading time a cue cannot get before the next one starts
_SHORT_CUE_CHARS = 15
_SHORT_CUE_COST = 0.5  # a lone "So," flashing by, at its worst
_FILL_COST = 0.2  # prefers two half-full cues to a full one and a scrap


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from ``start_s`` to ``end_s``, its text on ``lines``."""

    start_s: float
    end_s: float
    lines: list[str]


@dataclass(frozen=True)
class _Word:
    text: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class _Limits:
    max_chars_per_line: int
    max_lines: int
    max_cue_ms: int
    min_cue_ms: int
    max_chars_per_s: float

    @property
    def max_cue_chars(self) -> int:
        return self.max_lines * self.max_chars_per_line + self.max_lines - 1

    def reading_ms(self, chars: int) -> int:
        return math.ceil(chars * 1000 / self.max_chars_per_s)


def transcript_output(report: AnalysisReport) -> AnalyzerOutput:
    """speech_transcription's output, or NotInReport saying why there is none (not run, or its
    status and error)."""
    part = report.analyzers.get(TRANSCRIPTION)
    if part is None:
        raise NotInReport(
            f"job {report.job_id} did not run {TRANSCRIPTION}, so there is no transcript",
            fix=f"run the job again with the {TRANSCRIPTION} analyzer",
        )
    if part.status != OutcomeStatus.ok:
        why = f": {part.error.message}" if part.error else ""
        raise NotInReport(
            f"{TRANSCRIPTION} ended {part.status.value} in job {report.job_id}, so there is no transcript{why}",
            fix=part.error.fix if part.error else None,
        )
    return AnalyzerOutput(summary=part.summary, segments=part.segments, tracks=part.tracks)


def build_cues(
    output: AnalyzerOutput,
    *,
    max_chars_per_line: int = 42,
    max_lines: int = 2,
    max_cue_s: float = 7.0,
    min_cue_s: float = 0.8,
    max_chars_per_s: float = 20.0,
) -> list[Cue]:
    """Cues for a speech_transcription output, in time order, never overlapping.

    A cue is shown from its first word's start until its last word's end, longer when it needs
    more time to be read at ``max_chars_per_s`` or is shorter than ``min_cue_s``, but never past
    the next cue's start nor for more than ``max_cue_s``. A word longer than
    ``max_chars_per_line`` is a cue of its own on one (long) line: words are never cut."""
    if max_chars_per_line < 1 or max_lines < 1 or not 0 < min_cue_s <= max_cue_s or max_chars_per_s <= 0:
        raise ValueError("cue limits must be positive, with min_cue_s <= max_cue_s")
    limits = _Limits(max_chars_per_line, max_lines, _ms(max_cue_s), _ms(min_cue_s), max_chars_per_s)
    sentences = _sentences(output)
    cuts: list[_Cut] = []
    for k, (words, joiner) in enumerate(sentences):
        next_start_ms = sentences[k + 1][0][0].start_ms if k + 1 < len(sentences) else math.inf
        cuts += _cut_sentence(words, joiner, next_start_ms, limits)
    return _timed(cuts, limits)


# -- words per sentence -------------------------------------------------------------------------
def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _sentences(output: AnalyzerOutput) -> list[tuple[list[_Word], str]]:
    """The words of each sentence in spoken order, and what joins them ("" for a language written
    without spaces); sentences in time order."""
    sentences = output.segments_of("sentence")
    by_sentence: dict[int, list[_Word]] = {}
    for segment in output.segments_of("word"):
        text = " ".join(str(segment.attributes.get("text", "")).split())
        if not text:
            continue
        index = segment.attributes.get("sentence")
        if not isinstance(index, int) or isinstance(index, bool):
            index = _sentence_at(sentences, segment.start_s)
        by_sentence.setdefault(index, []).append(_Word(text, _ms(segment.start_s), _ms(segment.end_s)))
    for index, sentence in enumerate(sentences):
        if index not in by_sentence:
            spread = _spread(str(sentence.attributes.get("text", "")), _ms(sentence.start_s), _ms(sentence.end_s))
            if spread:
                by_sentence[index] = spread
    ordered = sorted(by_sentence.items(), key=lambda item: (item[1][0].start_ms, item[0]))
    joined = []
    for index, words in ordered:
        text = str(sentences[index].attributes.get("text", "")) if 0 <= index < len(sentences) else ""
        if len(words) > 1 and text.strip() and not any(c.isspace() for c in text.strip()):
            joined.append((words, ""))  # Chinese, Japanese, Thai ...: words are not spaced, lines may break between them
        else:
            joined.append((_glued(words, text), " "))
    return joined


def _glued(words: list[_Word], text: str) -> list[_Word]:
    """Words Whisper split inside what the sentence writes as one ("self" "-starter," for
    "self-starter,") joined back into one, so no line or cue ever breaks there. Words are found
    in the sentence text in order; one that is not found is kept as it is."""
    merged: list[_Word] = []
    at, previous_end = 0, -1
    for word in words:
        found = text.find(word.text, at)
        glued = bool(merged) and found >= 0 and found == previous_end
        at, previous_end = (found + len(word.text), found + len(word.text)) if found >= 0 else (at, -1)
        if glued:
            last = merged.pop()
            word = _Word(last.text + word.text, last.start_ms, max(last.end_ms, word.end_ms))
        merged.append(word)
    return merged


def _sentence_at(sentences, start_s: float) -> int:
    """The sentence a word without an index belongs to: the last one starting at or before it."""
    index = -1
    for i, sentence in enumerate(sentences):
        if sentence.start_s <= start_s:
            index = i
    return index


def _spread(text: str, start_ms: int, end_ms: int) -> list[_Word]:
    """A sentence without word timings: its words share its span in proportion to their length
    (with a space each), so a long word is shown for longer."""
    tokens = text.split()
    weights = [len(token) + 1 for token in tokens]
    total, done, words = sum(weights), 0, []
    for token, weight in zip(tokens, weights, strict=True):
        begin = start_ms + round((end_ms - start_ms) * done / total)
        done += weight
        words.append(_Word(token, begin, start_ms + round((end_ms - start_ms) * done / total)))
    return words


# -- cutting one sentence -----------------------------------------------------------------------
@dataclass(frozen=True)
class _Cut:
    words: list[_Word]
    lines: list[str]
    chars: int  # of its text on one line


def _cut_sentence(words: list[_Word], joiner: str, next_start_ms: float, limits: _Limits) -> list[_Cut]:
    """The cheapest cutting of one sentence (followed by speech at ``next_start_ms``) into cues
    that keep every limit. One-word cues always qualify, so there is always a cutting."""
    n = len(words)
    best: list[float] = [0.0] + [math.inf] * n
    choice: list[_Cut | None] = [None] * (n + 1)
    for end in range(1, n + 1):
        for begin in range(end - 1, -1, -1):
            texts = [w.text for w in words[begin:end]]
            chars = len(joiner.join(texts))
            if end - begin == 1:
                lines: list[str] | None = texts
            else:
                # more words in front only make a cue longer: stop at the first one that is too big
                # (in time too, but for the rare timestamp that steps back, so that is no reason to stop)
                if chars > limits.max_cue_chars:
                    break
                if words[end - 1].end_ms - words[begin].start_ms > limits.max_cue_ms:
                    continue
                lines = _wrap(texts, joiner, limits.max_chars_per_line, limits.max_lines)
                if lines is None:
                    break
            cost = best[begin] + _cost(words, begin, end, chars, next_start_ms, limits)
            if cost < best[end]:
                best[end], choice[end] = cost, _Cut(words[begin:end], lines, chars)
    cuts, end = [], n
    while end > 0:
        cut = choice[end]
        assert cut is not None  # one-word cues always qualify
        cuts.append(cut)
        end -= len(cut.words)
    return cuts[::-1]


def _cost(words: list[_Word], begin: int, end: int, chars: int, next_start_ms: float, limits: _Limits) -> float:
    cost = _CUE_COST + _FILL_COST * (chars / limits.max_cue_chars) ** 2
    until_ms = words[end].start_ms if end < len(words) else next_start_ms
    shown_ms = min(until_ms - words[begin].start_ms, limits.max_cue_ms)
    cost += _UNREAD_COST * max(0, limits.reading_ms(chars) - shown_ms) / 1000
    if end < len(words):
        cost += _CUT_COST[_cut_kind(words[end - 1], words[end])]
    if end - begin < len(words) and chars < _SHORT_CUE_CHARS:
        cost += _SHORT_CUE_COST * (_SHORT_CUE_CHARS - chars) / _SHORT_CUE_CHARS
    silent_ms = sum(max(0, words[k + 1].start_ms - words[k].end_ms) for k in range(begin, end - 1))
    return cost + _EARLY_COST * silent_ms / 1000


def _cut_kind(last: _Word, following: _Word) -> str:
    if following.start_ms - last.end_ms >= _PAUSE_MS:
        return "pause"
    mark = last.text.rstrip(_CLOSERS)[-1:]
    if mark and mark in ".?!\u2026\u3002\uff01\uff1f":  # with the ellipsis and full-width marks
        return "sentence_end"
    if mark and mark in ",;:\u3001\uff0c":  # with the ideographic and full-width commas
        return "clause"
    return "mid_phrase"


def _wrap(texts: list[str], joiner: str, max_chars: int, max_lines: int) -> list[str] | None:
    """The words on as few lines as fit ``max_chars``, as balanced as can be (least sum of
    squared line lengths; ties give the upper line less); None when they do not fit."""
    if len(joiner.join(texts)) <= max_chars:
        return [joiner.join(texts)]
    n = len(texts)
    for line_count in range(2, min(max_lines, n) + 1):
        # cost[j][l]: the best (sum of squares, line starts) putting texts[:j] on l lines
        cost: list[list[tuple[float, list[int]] | None]] = [[None] * (line_count + 1) for _ in range(n + 1)]
        cost[0][0] = (0.0, [])
        for j in range(1, n + 1):
            for lines in range(1, line_count + 1):
                for i in range(j - 1, -1, -1):
                    width = len(joiner.join(texts[i:j]))
                    if width > max_chars:
                        break
                    before = cost[i][lines - 1]
                    if before is None:
                        continue
                    candidate = (before[0] + width * width, [*before[1], i])
                    # "<=": of equal costs the last found, the one with the shortest upper lines, wins
                    if cost[j][lines] is None or candidate[0] <= cost[j][lines][0]:  # type: ignore[index]
                        cost[j][lines] = candidate
        found = cost[n][line_count]
        if found is not None:
            starts = [*found[1], n]
            return [joiner.join(texts[starts[k] : starts[k + 1]]) for k in range(line_count)]
    return None


# -- timing -------------------------------------------------------------------------------------
def _timed(cuts: list[_Cut], limits: _Limits) -> list[Cue]:
    """Each cue from its first word's start to its last word's end, held until it can be read and
    for ``min_cue_s`` at least unless the next cue starts sooner, capped at ``max_cue_s``, and never
    overlapping its neighbours."""
    cues: list[Cue] = []
    previous_end_ms = 0
    for k, cut in enumerate(cuts):
        start_ms = max(cut.words[0].start_ms, previous_end_ms)
        next_start_ms = cuts[k + 1].words[0].start_ms if k + 1 < len(cuts) else math.inf
        end_ms = max(cut.words[-1].end_ms, start_ms + limits.min_cue_ms, start_ms + limits.reading_ms(cut.chars))
        end_ms = min(end_ms, next_start_ms, start_ms + limits.max_cue_ms)
        end_ms = int(max(end_ms, start_ms + 1))  # a cue is always shown, if only for a millisecond
        cues.append(Cue(start_ms / 1000, end_ms / 1000, cut.lines))
        previous_end_ms = end_ms
    return cues


# -- writers ------------------------------------------------------------------------------------
def _timestamp(seconds: float, separator: str) -> str:
    hours, rest = divmod(_ms(seconds), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"


def _vtt_text(line: str) -> str:
    # escaping ">" also keeps "-->" (the timing arrow) out of cue text
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _srt_text(line: str) -> str:
    # SRT has no escapes; a line holding the timing arrow would be read as a timing line
    while "-->" in line:
        line = line.replace("-->", "->")
    return line


def to_vtt(cues: list[Cue]) -> str:
    """A WebVTT document; with no cues, the header alone (still a valid file)."""
    blocks = [
        f"{_timestamp(c.start_s, '.')} --> {_timestamp(c.end_s, '.')}\n" + "\n".join(_vtt_text(x) for x in c.lines)
        for c in cues
    ]
    return "WEBVTT\n" + "".join(f"\n{block}\n" for block in blocks)


def to_srt(cues: list[Cue]) -> str:
    """A SubRip document, cues numbered from 1; with no cues, empty."""
    blocks = [
        f"{n}\n{_timestamp(c.start_s, ',')} --> {_timestamp(c.end_s, ',')}\n" + "\n".join(_srt_text(x) for x in c.lines)
        for n, c in enumerate(cues, start=1)
    ]
    return "\n".join(f"{block}\n" for block in blocks)


EXPORT_FORMATS: dict[str, Callable[[list[Cue]], str]] = {"vtt": to_vtt, "srt": to_srt}
MEDIA_TYPES: dict[str, str] = {"vtt": "text/vtt; charset=utf-8", "srt": "application/x-subrip; charset=utf-8"}
