"""GET /v1/jobs/{id}/transcript.vtt and .srt in-process: the subtitles of a finished job's
transcript, and the report endpoint's errors (unknown job, unfinished job) plus a 404 when the
report has no ok speech_transcription. speech_transcription is a fake with a fixed transcript."""

from __future__ import annotations

import re

import pytest
from api_helpers import assert_error, wait_final
from tests.fakes import FAKE_TARGETS
from tests.report.transcript_fake import CRASH, MODEL_MISSING, TRANSCRIPT_FAKE_TARGET, fixed_transcript

from reelscope.analyzers.registry import Registry
from reelscope.report.subtitles import build_cues, to_srt, to_vtt

REGISTRY = Registry({"speech_transcription": TRANSCRIPT_FAKE_TARGET, "echo": FAKE_TARGETS["echo"], "slow": FAKE_TARGETS["slow"]})
FORMATS = {"vtt": "text/vtt; charset=utf-8", "srt": "application/x-subrip; charset=utf-8"}


def finished_job(client, analyzers: list[str], params: dict | None = None) -> str:
    answer = client.post("/v1/jobs", json={"path": "clip.mp4", "analyzers": analyzers, "params": params or {}})
    assert answer.status_code == 202, answer.text
    wait_final(client, answer.json()["job_id"])
    return answer.json()["job_id"]


def test_a_finished_transcript_comes_as_webvtt_and_srt(make_api):
    with make_api(registry=REGISTRY) as client:
        job_id = finished_job(client, ["speech_transcription", "echo"])
        cues = build_cues(fixed_transcript())
        for fmt, write in (("vtt", to_vtt), ("srt", to_srt)):
            answer = client.get(f"/v1/jobs/{job_id}/transcript.{fmt}")
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"] == FORMATS[fmt]
            assert answer.headers["content-disposition"] == f"inline; filename*=UTF-8''clip.{fmt}"  # no server path
            assert answer.content.decode("utf-8") == write(cues)
        assert "Um, R&amp;D is &lt;3 today!" in client.get(f"/v1/jobs/{job_id}/transcript.vtt").text
        paths = client.get("/openapi.json").json()["paths"]
        assert "text/vtt" in paths["/v1/jobs/{job_id}/transcript.vtt"]["get"]["responses"]["200"]["content"]
        assert "application/x-subrip" in paths["/v1/jobs/{job_id}/transcript.srt"]["get"]["responses"]["200"]["content"]


def test_silence_gives_valid_empty_subtitles(make_api):
    with make_api(registry=REGISTRY) as client:
        job_id = finished_job(client, ["speech_transcription"], {"speech_transcription": {"mode": "silent"}})
        assert client.get(f"/v1/jobs/{job_id}/transcript.vtt").text == "WEBVTT\n"
        srt = client.get(f"/v1/jobs/{job_id}/transcript.srt")
        assert srt.status_code == 200 and srt.content == b""


@pytest.mark.parametrize(
    ("analyzers", "params", "why"),
    [
        (["echo"], {}, "did not run speech_transcription"),
        (["speech_transcription"], {"speech_transcription": {"mode": "fail"}}, f"ended failed in job .*{CRASH}"),
        (["speech_transcription"], {"speech_transcription": {"mode": "unavailable"}}, f"ended unavailable in job .*{MODEL_MISSING}"),
    ],
    ids=["not_run", "failed", "unavailable"],
)
def test_no_ok_transcription_is_not_in_report(make_api, analyzers, params, why):
    with make_api(registry=REGISTRY) as client:
        job_id = finished_job(client, analyzers, params)
        for fmt in FORMATS:
            error = assert_error(client.get(f"/v1/jobs/{job_id}/transcript.{fmt}"), 404, "analyzer_not_in_report")
            assert re.search(why, error["message"]), error["message"]


def test_unknown_and_unfinished_jobs_answer_like_the_report(make_api):
    with make_api(registry=REGISTRY) as client:
        for fmt in FORMATS:
            assert_error(client.get(f"/v1/jobs/no-such-job/transcript.{fmt}"), 404, "job_not_found")
        answer = client.post("/v1/jobs", json={"path": "clip.mp4", "analyzers": ["slow"], "params": {"slow": {"seconds": 1.0}}})
        job_id = answer.json()["job_id"]
        for fmt in FORMATS:
            error = assert_error(client.get(f"/v1/jobs/{job_id}/transcript.{fmt}"), 409, "job_conflict")
            assert error["message"].startswith(f"job {job_id} has no report: it is ") and "poll" in error["fix"]
        assert wait_final(client, job_id)["status"] == "succeeded"
        assert_error(client.get(f"/v1/jobs/{job_id}/transcript.vtt"), 404, "analyzer_not_in_report")
