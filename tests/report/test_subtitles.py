"""Subtitle cues and their WebVTT/SRT files: generated transcripts must give cues that keep every
limit (line length, line count, cue length), are timed to be read, never overlap or cross a
sentence, hold every word once in order, and read back from both files exactly; then the edge
cases (no words, an over-long word, zero-length words, past one hour) and the choice of cut
points (punctuation, pauses, reading time, and no flicker for fast talkers)."""

from __future__ import annotations

import math
import re
import string
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reelscope.core.errors import NotInReport
from reelscope.core.jobs import JobStatus
from reelscope.core.media_info import MediaInfo
from reelscope.core.report import AnalysisReport, AnalyzerReport, SourceInfo, Timings
from reelscope.core.results import AnalyzerOutput, ErrorInfo, OutcomeStatus, Segment
from reelscope.report.subtitles import EXPORT_FORMATS, Cue, build_cues, to_srt, to_vtt, transcript_output

from .transcript_fake import fixed_transcript

MAX_CHARS, MAX_LINES, MAX_CUE_S, MIN_CUE_S, MAX_CPS = 42, 2, 7.0, 0.8, 20.0
_VTT_TIME = r"(\d{2,}):(\d{2}):(\d{2})\.(\d{3})"
_SRT_TIME = r"(\d{2,}):(\d{2}):(\d{2}),(\d{3})"


# -- readers: what a player would see ----------------------------------------------------------
def _seconds(h: str, m: str, s: str, ms: str) -> float:
    assert int(m) < 60 and int(s) < 60
    return (int(h) * 3_600_000 + int(m) * 60_000 + int(s) * 1000 + int(ms)) / 1000


def _cue_blocks(text: str) -> list[str]:
    assert text.endswith("\n") and "\n\n\n" not in text
    return text[:-1].split("\n\n")


def parse_vtt(text: str) -> list[tuple[float, float, list[str]]]:
    blocks = _cue_blocks(text)
    assert blocks[0] == "WEBVTT"
    cues = []
    for block in blocks[1:]:
        timing, *lines = block.split("\n")
        match = re.fullmatch(f"{_VTT_TIME} --> {_VTT_TIME}", timing)
        assert match, timing
        assert lines and all(line and "-->" not in line and "<" not in line for line in lines)
        assert not re.search(r"&(?!amp;|lt;|gt;)", block)  # every "&" starts an escape
        unescaped = [line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") for line in lines]
        cues.append((_seconds(*match.groups()[:4]), _seconds(*match.groups()[4:]), unescaped))
    return cues


def parse_srt(text: str) -> list[tuple[float, float, list[str]]]:
    if text == "":
        return []
    cues = []
    for number, block in enumerate(_cue_blocks(text), start=1):
        index, timing, *lines = block.split("\n")
        assert index == str(number)
        match = re.fullmatch(f"{_SRT_TIME} --> {_SRT_TIME}", timing)
        assert match, timing
        assert lines and all(line and "-->" not in line for line in lines)
        cues.append((_seconds(*match.groups()[:4]), _seconds(*match.groups()[4:]), lines))
    return cues


# -- transcripts -------------------------------------------------------------------------------
def transcript(sentences: list[list[tuple[str, float, float]]]) -> AnalyzerOutput:
    """Sentence and word segments in the speech_transcription contract from (text, start_s, end_s)
    per word."""
    segments = []
    for index, words in enumerate(sentences):
        segments.append(
            Segment(kind="sentence", start_s=words[0][1], end_s=words[-1][2], label="sentence",
                    attributes={"text": " ".join(w[0] for w in words)})
        )
        segments += [
            Segment(kind="word", start_s=start_s, end_s=end_s, label="word", score=0.9,
                    attributes={"text": text, "sentence": index, "filler": False, "emphasized": False})
            for text, start_s, end_s in words
        ]
    return AnalyzerOutput(segments=segments)


def written_as(text: str, words: list[tuple[str, float, float]]) -> AnalyzerOutput:
    """One sentence whose text is written ``text`` (not its words joined with spaces)."""
    sentence = Segment(kind="sentence", start_s=words[0][1], end_s=words[-1][2], label="sentence", attributes={"text": text})
    return AnalyzerOutput(segments=[sentence, *transcript([words]).segments_of("word")])


def check_cues(output: AnalyzerOutput, cues: list[Cue]) -> None:
    """Every property a cue list must have, against the words it was made from."""
    words, at = output.segments_of("word"), 0
    for k, cue in enumerate(cues):
        following = cues[k + 1].start_s if k + 1 < len(cues) else float("inf")
        # timing: ordered, shown, never overlapping, never too long
        assert cue.start_s < cue.end_s <= following
        assert cue.end_s - cue.start_s <= MAX_CUE_S + 1e-9
        # text: the next words in order, all from one sentence
        texts = " ".join(cue.lines).split(" ")
        mine = words[at : at + len(texts)]
        assert [w.attributes["text"] for w in mine] == texts
        assert len({w.attributes["sentence"] for w in mine}) == 1
        at += len(texts)
        first, last = mine[0], mine[-1]
        assert cue.start_s == first.start_s or (k > 0 and cue.start_s == cues[k - 1].end_s > first.start_s)
        # shown until its last word ends and it can be read, min_cue_s at least, unless the next
        # cue starts sooner; max_cue_s at most
        reading_s = math.ceil(len(" ".join(texts)) * 1000 / MAX_CPS) / 1000
        wanted_end = min(max(last.end_s, cue.start_s + MIN_CUE_S, cue.start_s + reading_s), following, cue.start_s + MAX_CUE_S)
        assert cue.end_s == pytest.approx(max(wanted_end, cue.start_s + 0.001), abs=1e-6)
        # lines: as few as fit, balanced, within the limit (a lone over-long word excepted)
        assert 1 <= len(cue.lines) <= MAX_LINES
        if len(mine) == 1:
            assert cue.lines == texts
            continue
        assert all(len(line) <= MAX_CHARS for line in cue.lines)
        chars = len(" ".join(texts))
        assert (len(cue.lines) == 1) == (chars <= MAX_CHARS)
        if len(cue.lines) == 2:
            best = min(max(len(" ".join(texts[:i])), len(" ".join(texts[i:]))) for i in range(1, len(texts)))
            assert max(map(len, cue.lines)) == best
        # a multi-word cue never shows words long before they are spoken
        assert last.end_s - first.start_s <= MAX_CUE_S + 1e-9
    assert at == len(words)  # every word, exactly once


def check_files(cues: list[Cue]) -> None:
    expected = [(c.start_s, c.end_s, c.lines) for c in cues]
    assert parse_vtt(to_vtt(cues)) == expected
    assert parse_srt(to_srt(cues)) == expected


def _mostly(common, rare, one_in: int):
    """``rare`` about once in ``one_in`` draws, else ``common``."""
    return st.integers(1, one_in).flatmap(lambda k: rare if k == 1 else common)


_plain = st.text(string.ascii_letters, min_size=1, max_size=9)
_marked = st.text(string.ascii_letters + "'&<>", min_size=1, max_size=9)
_word = _mostly(
    st.tuples(_mostly(_plain, _marked, 10), st.sampled_from(["", "", "", "", ",", ".", "?", "!", ";", ":", '."'])).map("".join),
    st.text(string.ascii_lowercase, min_size=43, max_size=55),  # longer than a line
    40,
)
_timed_word = st.tuples(
    _word,
    _mostly(st.floats(0.05, 0.6), st.just(0.0), 8),  # duration_s, sometimes zero
    _mostly(st.floats(0.0, 0.15), st.floats(0.3, 2.0), 6),  # gap_s to the next word, sometimes a pause
)
_transcripts = st.tuples(
    _mostly(st.floats(0.0, 60.0), st.floats(3500.0, 5000.0), 4),  # past an hour too
    st.lists(st.lists(_timed_word, min_size=1, max_size=45), min_size=1, max_size=5),
)


def _lay_out(start_s: float, sentences) -> AnalyzerOutput:
    t, laid = start_s, []
    for sentence in sentences:
        words = []
        for text, duration_s, gap_s in sentence:
            words.append((text, t, t + duration_s))
            t = round(t + duration_s + gap_s, 3)
        laid.append(words)
    return transcript(laid)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(_transcripts)
def test_generated_transcripts_give_cues_that_keep_every_rule(generated):
    output = _lay_out(*generated)
    cues = build_cues(output)
    check_cues(output, cues)
    check_files(cues)


def test_a_talk_is_cut_at_punctuation_into_balanced_cues():
    text = ("So today I want to talk about something that matters a lot, because most people get it wrong "
            "and then they wonder why nothing changes for them").split()
    words = [(w, 10.0 + 0.28 * i, 10.25 + 0.28 * i) for i, w in enumerate(text)]
    output = transcript([words])
    cues = build_cues(output)
    check_cues(output, cues)
    # 144 characters need two cues at least; the first ends at the comma, not mid-phrase
    assert cues[0].lines[-1].endswith("a lot,")
    assert len(cues) <= 3


def test_lines_are_balanced_and_cues_end_with_their_last_word():
    text = "one two three four five six seven eight nine ten eleven twelve".split()
    words = [(w, 0.3 * i, 0.3 * i + 0.3) for i, w in enumerate(text)]
    [cue] = build_cues(transcript([words]))
    assert cue.lines == ["one two three four five six seven", "eight nine ten eleven twelve"]  # 33 and 28
    assert (cue.start_s, cue.end_s) == (0.0, 3.6)


def test_a_cue_stays_up_until_it_can_be_read_unless_the_next_one_starts():
    fast = [("Extraordinarily", 1.0, 1.45), ("overcomplicated.", 1.45, 1.9)]  # 32 characters: 1.6 s to read
    cues = build_cues(transcript([fast, [("Yes.", 5.0, 5.1)]]))
    assert [c.lines for c in cues] == [["Extraordinarily overcomplicated."], ["Yes."]]
    assert [(c.start_s, c.end_s) for c in cues] == [(1.0, 2.6), (5.0, 5.8)]  # "Yes." held for min_cue_s
    cues = build_cues(transcript([fast, [("Yes.", 2.2, 2.3)]]))
    assert [(c.start_s, c.end_s) for c in cues] == [(1.0, 2.2), (2.2, 3.0)]  # cut short by the next cue


def test_a_fast_talker_gets_whole_cues_not_a_flicker_of_words():
    # 25 characters a second, without pauses: no cutting can show this slower than it is spoken
    text = ("He could rise and seem to complain against the wizard who would vanish behind the curtain "
            "on the left while everyone in the hall kept on watching the empty stage in silence.").split()
    starts_s = [sum(len(w) + 1 for w in text[:i]) / 25 for i in range(len(text) + 1)]
    words = [(w, starts_s[i], starts_s[i + 1]) for i, w in enumerate(text)]
    output = transcript([words])
    cues = build_cues(output)
    check_cues(output, cues)
    chars = len(" ".join(text))
    assert len(cues) == math.ceil(chars / 85)  # as few as the two-line limit allows
    assert all(len(" ".join(c.lines).split()) >= 5 for c in cues)


def test_cuts_leave_each_cue_the_time_to_read_it():
    # 7.5 s of speech must be cut once; every cut is after a comma. Four quick words then two slow
    # ones: a cut after the third word balances the text but leaves 32 characters 0.6 s; after
    # the fifth word every cue has time to be read.
    words = [("abcdefghi,", 0.0, 0.2), ("bcdefghij,", 0.2, 0.4), ("cdefghijk,", 0.4, 0.6), ("defghijkl,", 0.6, 0.8),
             ("efghijklm,", 0.8, 4.0), ("fghijklmn.", 4.0, 7.5)]
    output = transcript([words])
    cues = build_cues(output)
    check_cues(output, cues)
    assert [c.lines for c in cues] == [["abcdefghi, bcdefghij,", "cdefghijk, defghijkl, efghijklm,"], ["fghijklmn."]]


def test_a_pause_cuts_the_cue_but_a_breath_after_one_word_does_not():
    # fits one cue, but "here it comes" would be on screen 1.5 s before it is said
    words = [("Wait", 0.0, 0.3), ("for", 0.3, 0.5), ("it,", 0.5, 0.8), ("everybody", 0.8, 1.4),
             ("here", 2.9, 3.2), ("it", 3.2, 3.3), ("comes", 3.3, 3.7), ("now.", 3.7, 4.1)]
    assert [c.lines for c in build_cues(transcript([words]))] == [["Wait for it, everybody"], ["here it comes now."]]
    words = [("So,", 0.0, 0.3), ("what", 0.85, 1.0), ("do", 1.0, 1.1), ("we", 1.1, 1.2), ("do", 1.2, 1.3), ("now?", 1.3, 1.6)]
    assert [c.lines for c in build_cues(transcript([words]))] == [["So, what do we do now?"]]
    # no punctuation at all, and a one-second pause before "something": the cut goes there
    text = "So today I want to talk about something that matters a lot to all of us".split()
    words = [(w, 0.28 * i + (1.0 if i >= 7 else 0.0), 0.28 * i + 0.25 + (1.0 if i >= 7 else 0.0)) for i, w in enumerate(text)]
    cues = build_cues(transcript([words]))
    assert cues[0].lines[-1].endswith("about") and cues[1].lines[0].startswith("something")


def test_no_orphan_word_when_a_balanced_cut_exists():
    text = "We looked at the numbers twice, and every total in the report was right all along. Right?".split()
    words = [(w, 0.32 * i, 0.32 * i + 0.3) for i, w in enumerate(text)]
    cues = build_cues(transcript([words]))
    # "... all along." then "Right?" alone would cut at a full stop, but leave a one-word scrap
    assert [c.lines for c in cues] == [["We looked at the numbers twice,"], ["and every total in the report", "was right all along. Right?"]]


def test_timestamps_that_step_back_still_give_valid_cues():
    words = [("one", 1.0, 1.4), ("two", 0.9, 1.6), ("three.", 1.6, 2.0)]
    following = [("Next", 1.95, 2.2), ("one.", 2.2, 2.6)]  # starts before the first sentence ends
    cues = build_cues(transcript([words, following]))
    assert [c.lines for c in cues] == [["one two three."], ["Next one."]]
    assert cues[0].start_s == 1.0 and cues[0].end_s <= cues[1].start_s < cues[1].end_s
    check_files(cues)


def test_a_long_sentence_is_cut_before_max_cue_s():
    words = [(f"w{i}", 0.8 * i, 0.8 * i + 0.7) for i in range(20)]  # slow: 16 s of short words
    output = transcript([words])
    cues = build_cues(output)
    check_cues(output, cues)
    assert len(cues) >= 3 and all(c.end_s - c.start_s <= MAX_CUE_S for c in cues)
    # one word Whisper stretched over nine seconds: shown for max_cue_s only
    assert [(c.start_s, c.end_s) for c in build_cues(transcript([[("Sooo...", 20.0, 29.0)]]))] == [(20.0, 27.0)]


def test_no_words_gives_no_cues_and_valid_empty_files():
    assert build_cues(AnalyzerOutput()) == []
    assert to_vtt([]) == "WEBVTT\n" and parse_vtt(to_vtt([])) == []
    assert to_srt([]) == "" and parse_srt("") == []
    # a sentence with no text and no words is no cue either
    blank = Segment(kind="sentence", start_s=1.0, end_s=2.0, label="sentence", attributes={"text": "  "})
    assert build_cues(AnalyzerOutput(segments=[blank])) == []


def test_a_word_longer_than_a_line_is_a_cue_of_its_own():
    long_word = "Pneumonoultramicroscopicsilicovolcanoconiosis-ish"  # 49 characters
    words = [("I", 0.0, 0.2), ("said", 0.2, 0.5), (long_word, 0.5, 1.6), ("twice", 1.6, 2.0), ("today.", 2.0, 2.4)]
    output = transcript([words])
    cues = build_cues(output)
    check_cues(output, cues)
    assert [c.lines for c in cues] == [["I said"], [long_word], ["twice today."]]


def test_zero_length_words_still_give_shown_non_overlapping_cues():
    same_instant = transcript([[("Hi.", 3.0, 3.0)], [("Bye.", 3.0, 3.0)], [("Again.", 3.0, 3.0)]])
    cues = build_cues(same_instant)
    check_cues(same_instant, cues)
    assert [(c.start_s, c.end_s) for c in cues] == [(3.0, 3.001), (3.001, 3.002), (3.002, 3.802)]
    spaced = transcript([[("a", 1.0, 1.0), ("b", 1.2, 1.2), ("c.", 1.4, 1.4)], [("next", 1.5, 1.5)]])
    cues = build_cues(spaced)
    check_cues(spaced, cues)
    assert [(c.start_s, c.end_s) for c in cues] == [(1.0, 1.5), (1.5, 2.3)]
    check_files(cues)


def test_cues_past_one_hour_are_written_with_hours():
    output = transcript([[("Still", 3723.456, 3723.9), ("here.", 3723.9, 3724.5)]])
    cues = build_cues(output)
    assert "01:02:03.456 --> 01:02:04.500\nStill here.\n" in to_vtt(cues)
    assert to_srt(cues) == "1\n01:02:03,456 --> 01:02:04,500\nStill here.\n"
    later = [Cue(100 * 3600 + 0.5, 100 * 3600 + 1.25, ["late"])]  # hours grow past two digits
    assert "100:00:00.500 --> 100:00:01.250" in to_vtt(later)
    check_files(cues + later)


def test_markup_and_the_timing_arrow_never_reach_cue_text():
    cue = Cue(0.0, 1.0, ["R&D <b>x</b> a-->b"])
    vtt = to_vtt([cue])
    assert "R&amp;D &lt;b&gt;x&lt;/b&gt; a--&gt;b" in vtt
    assert parse_vtt(vtt) == [(0.0, 1.0, ["R&D <b>x</b> a-->b"])]
    srt = to_srt([Cue(0.0, 1.0, ["a-->b --->c"])])
    assert srt.count("-->") == 1 and "a->b ->c" in srt


def test_a_sentence_without_word_timings_is_spread_over_its_span():
    timed = [("First", 0.0, 0.4), ("part.", 0.4, 0.8)]
    untimed = Segment(kind="sentence", start_s=2.0, end_s=8.0, label="sentence",
                      attributes={"text": "Then a sentence whose words have no timings, spread evenly over its span."})
    output = AnalyzerOutput(segments=[*transcript([timed]).segments, untimed])
    cues = build_cues(output)
    assert cues[0].lines == ["First part."]
    later = cues[1:]
    assert " ".join(" ".join(c.lines) for c in later) == untimed.attributes["text"]
    assert later[0].start_s == 2.0 and later[-1].end_s == 8.0
    assert all(a.end_s <= b.start_s for a, b in pairwise(later))


def test_words_whisper_split_are_joined_back_as_the_sentence_writes_them():
    # Whisper's words for "a self-starter, by 14," (from a real clip): never "self -starter"
    words = [("a", 0.0, 0.1), ("self", 0.1, 0.4), ("-starter,", 0.4, 0.9), ("by", 0.9, 1.0), ("14,", 1.0, 1.4)]
    [cue] = build_cues(written_as("a self-starter, by 14,", words), max_chars_per_line=15)
    assert cue.lines == ["a self-starter,", "by 14,"]


def test_a_language_written_without_spaces_is_joined_without_them():
    text = "我们今天下午一起去公园散步吧，然后去看电影，最后在河边的餐厅吃晚饭好不好？"
    tokens = ["我们", "今天", "下午", "一起", "去", "公园", "散步", "吧，", "然后", "去", "看", "电影，",
              "最后", "在", "河边", "的", "餐厅", "吃", "晚饭", "好不好？"]
    assert "".join(tokens) == text
    words = [(t, 0.4 * i, 0.4 * i + 0.4) for i, t in enumerate(tokens)]
    cues = build_cues(written_as(text, words), max_chars_per_line=16)
    assert "".join(line for c in cues for line in c.lines) == text
    assert all(len(line) <= 16 for c in cues for line in c.lines) and len(cues) >= 2
    assert cues[0].lines[-1].endswith("，")  # cut at the full-width comma


def test_words_are_grouped_by_their_sentence_index():
    # the second sentence's words are listed first: cues still follow the sentences in time
    output = AnalyzerOutput(segments=[
        Segment(kind="word", start_s=2.0, end_s=2.5, label="word", attributes={"text": "second.", "sentence": 1}),
        Segment(kind="word", start_s=0.0, end_s=0.5, label="word", attributes={"text": "First", "sentence": 0}),
        Segment(kind="word", start_s=0.5, end_s=1.0, label="word", attributes={"text": "one", "sentence": 0}),
    ])
    assert [c.lines for c in build_cues(output)] == [["First one"], ["second."]]


def test_limits_are_parameters():
    words = [(w, 0.3 * i, 0.3 * i + 0.3) for i, w in enumerate("a quick brown fox jumps over the lazy dog".split())]
    output = transcript([words])
    narrow = build_cues(output, max_chars_per_line=10, max_lines=1)
    assert all(len(c.lines) == 1 and len(c.lines[0]) <= 10 for c in narrow)
    assert " ".join(c.lines[0] for c in narrow) == "a quick brown fox jumps over the lazy dog"
    with pytest.raises(ValueError):
        build_cues(output, min_cue_s=8.0)


def test_the_fake_transcript_exports_as_both_formats():
    cues = build_cues(fixed_transcript())
    check_cues(fixed_transcript(), cues)
    assert [c.lines for c in cues] == [["Hello everyone, welcome back."], ["Um, R&D is <3 today!"]]
    # 29 characters need 1.45 s to read; the next sentence starts 1.7 s after the first word
    assert [(c.start_s, c.end_s) for c in cues] == [(0.2, 1.65), (1.9, 2.95)]
    assert EXPORT_FORMATS["vtt"](cues) == to_vtt(cues) and EXPORT_FORMATS["srt"](cues) == to_srt(cues)
    check_files(cues)


# -- the transcript in a report -----------------------------------------------------------------
def report_with(**analyzers: AnalyzerReport) -> AnalysisReport:
    return AnalysisReport(
        reelscope_version="0.0.0", job_id="job-1", status=JobStatus.succeeded, created_at=datetime.now(UTC),
        source=SourceInfo(path="/media/clip.mp4", sha256="0" * 64),
        media=MediaInfo(path="/media/clip.mp4", file_size_bytes=1, sha256="0" * 64, container="mp4", duration_s=3.0,
                        has_video=True, has_audio=True),
        timings=Timings(probe_s=0.0, decode_s=0.0, analyze_s=0.0, total_s=0.0, realtime_factor=0.0),
        analyzers=analyzers,
    )


def test_transcript_output_reads_the_ok_transcription_or_says_why_not():
    output = fixed_transcript()
    ok = AnalyzerReport(status=OutcomeStatus.ok, version="1", params={}, duration_s=1.0, **output.model_dump())
    assert transcript_output(report_with(speech_transcription=ok)) == output

    with pytest.raises(NotInReport, match="did not run speech_transcription") as absent:
        transcript_output(report_with())
    assert absent.value.http_status == 404 and absent.value.fix

    error = ErrorInfo(type="ModelUnavailable", message="no whisper model", fix="reelscope models download small")
    failed = AnalyzerReport(status=OutcomeStatus.failed, version="1", params={}, duration_s=0.1, error=error)
    with pytest.raises(NotInReport, match=r"ended failed.*no whisper model") as not_ok:
        transcript_output(report_with(speech_transcription=failed))
    assert not_ok.value.fix == "reelscope models download small"

    unavailable = AnalyzerReport(status=OutcomeStatus.unavailable, version="1", params={}, duration_s=0.0)
    with pytest.raises(NotInReport, match="ended unavailable"):
        transcript_output(report_with(speech_transcription=unavailable))
