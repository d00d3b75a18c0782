"""The /v1/jobs API in-process: submit by path and upload, poll, reports, dedupe, idempotency,
and every refusal with its status code and the one error shape."""

from __future__ import annotations

import json
import os

import pytest
from api_helpers import assert_error, wait_final

ONE = {"analyzers": ["cut_analysis"]}


def submit(client, **body):
    return client.post("/v1/jobs", json={"path": "clip.mp4", **ONE, **body})


def test_submit_poll_and_fetch_the_report(make_api, shots_clip):
    _, truth = shots_clip
    with make_api() as client:
        answer = submit(client, analyzers=["cut_analysis", "audio_analysis"])
        assert answer.status_code == 202
        job = answer.json()
        assert job["status"] in ("queued", "running", "succeeded")
        assert answer.headers["location"] == f"/v1/jobs/{job['job_id']}"
        assert job["source"] == "clip.mp4"  # the name, never the server path
        done = wait_final(client, job["job_id"])
        assert done["status"] == "succeeded" and done["attempts"] == 1
        assert set(done["results"]) == {"cut_analysis", "audio_analysis"}
        assert all(r["status"] == "ok" for r in done["results"].values())
        assert done["timings"]["realtime_factor"] > 0 and done["finished_at"] >= done["started_at"]
        report = client.get(f"/v1/jobs/{job['job_id']}/report").json()
        assert report["job_id"] == job["job_id"] and report["schema_version"] == "1.0"
        cuts = [s["start_s"] for s in report["analyzers"]["cut_analysis"]["segments"] if s["label"] == "hard_cut"]
        assert cuts == pytest.approx(list(truth.cut_times_s), abs=0.1)
        part = client.get(f"/v1/jobs/{job['job_id']}/report", params={"analyzer": "audio_analysis"}).json()
        assert part["analyzer"] == "audio_analysis" and part["status"] == "ok" and "integrated_lufs" in part["summary"]
        assert_error(client.get(f"/v1/jobs/{job['job_id']}/report", params={"analyzer": "color_analysis"}), 404, "analyzer_not_in_report")


def test_the_same_request_returns_the_same_job_without_recomputing(make_api):
    with make_api() as client:
        first = submit(client).json()
        wait_final(client, first["job_id"])
        report = client.get(f"/v1/jobs/{first['job_id']}/report").json()
        again = submit(client)
        assert again.status_code == 200 and again.json()["job_id"] == first["job_id"]
        # the same file under another name is the same content: the same job
        other_name = client.post("/v1/jobs", json={"path": "sub/clip2.mp4", **ONE})
        assert other_name.status_code == 200 and other_name.json()["job_id"] == first["job_id"]
        assert client.get(f"/v1/jobs/{first['job_id']}/report").json()["created_at"] == report["created_at"]
        different = submit(client, params={"cut_analysis": {"min_cut_ratio": 4.0}})
        assert different.status_code == 202 and different.json()["job_id"] != first["job_id"]


def test_idempotency_key(make_api):
    with make_api() as client:
        first = client.post("/v1/jobs", json={"path": "clip.mp4", **ONE}, headers={"Idempotency-Key": "k-1"})
        retry = client.post("/v1/jobs", json={"path": "clip.mp4", **ONE}, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == 202 and retry.status_code == 200
        assert retry.json()["job_id"] == first.json()["job_id"]
        misuse = client.post("/v1/jobs", json={"path": "clip.mp4", "analyzers": ["color_analysis"]}, headers={"Idempotency-Key": "k-1"})
        assert_error(misuse, 409, "idempotency_conflict")
        assert client.get("/v1/jobs").json()["total"] == 1


def test_list_filters_and_paginates(make_api):
    with make_api() as client:
        ids = [submit(client, params={"cut_analysis": {"min_cut_ratio": 3.0 + i}}).json()["job_id"] for i in range(3)]
        for job_id in ids:
            wait_final(client, job_id)
        page = client.get("/v1/jobs", params={"limit": 2}).json()
        assert page["total"] == 3 and len(page["jobs"]) == 2 and page["limit"] == 2
        rest = client.get("/v1/jobs", params={"limit": 2, "offset": 2}).json()
        assert {j["job_id"] for j in page["jobs"] + rest["jobs"]} == set(ids)
        assert client.get("/v1/jobs", params={"status": "succeeded"}).json()["total"] == 3
        assert client.get("/v1/jobs", params={"status": "failed"}).json()["total"] == 0
        assert_error(client.get("/v1/jobs", params={"status": "nonsense"}), 422, "invalid_request")
        assert_error(client.get("/v1/jobs", params={"limit": 0}), 422, "invalid_request")


def test_upload_runs_and_is_stored_once(make_api, shots_clip, tmp_path):
    with make_api() as client:
        with open(shots_clip[0], "rb") as fh:
            answer = client.post(
                "/v1/jobs", files={"file": ("my video.MP4", fh, "video/mp4")}, data={"options": json.dumps(ONE)}
            )
        assert answer.status_code == 202, answer.text
        done = wait_final(client, answer.json()["job_id"])
        assert done["status"] == "succeeded"
        uploads = list((tmp_path / "data" / "uploads").iterdir())
        assert [p.name for p in uploads] == [f"{done['media_sha256']}.mp4"]
        with open(shots_clip[0], "rb") as fh:  # the same bytes again: the same job, one stored file
            again = client.post("/v1/jobs", files={"file": ("copy.mp4", fh)}, data={"options": json.dumps(ONE)})
        assert again.status_code == 200 and again.json()["job_id"] == done["job_id"]
        assert len(list((tmp_path / "data" / "uploads").iterdir())) == 1


def test_upload_refusals(make_api, tmp_path):
    with make_api(max_upload_bytes=50_000) as client:
        big = os.urandom(60_000)
        assert_error(client.post("/v1/jobs", files={"file": ("big.mp4", big)}), 413, "request_too_large")
        text = b"this is not a video\n" * 20
        assert client.post("/v1/jobs", files={"file": ("notes.mp4", text)}).status_code in (415, 422)
        assert_error(client.post("/v1/jobs", files={"other": ("x.mp4", b"abc")}), 400, "bad_request")
        bad_options = client.post("/v1/jobs", files={"file": ("x.mp4", b"abc")}, data={"options": "{not json"})
        assert_error(bad_options, 400, "bad_request")
        assert_error(
            client.post("/v1/jobs", files={"file": ("x.mp4", b"abc")}, data={"options": '{"analyzers": "cut"}'}),
            422,
            "invalid_request",
        )
        assert_error(client.post("/v1/jobs", files={"file": ("empty.mp4", b"")}), 415, "unsupported_media")
        # nothing refused was kept
        assert not [p for p in (tmp_path / "data" / "uploads").glob("*") if p.stat().st_size > 1000]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("../outside.mp4", 403, "path_not_allowed"),
        ("sub/../../outside.mp4", 403, "path_not_allowed"),
        ("/etc/passwd", 403, "path_not_allowed"),
        ("escape.mp4", 403, "path_not_allowed"),  # a symlink inside the root pointing out of it
        ("missing.mp4", 404, "media_not_found"),
        ("sub", 415, "unsupported_media"),
    ],
)
def test_paths_outside_the_media_roots_are_refused(make_api, media_root, tmp_path, shots_clip, path, status, code):
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(shots_clip[0].read_bytes())
    (media_root / "escape.mp4").symlink_to(outside)
    with make_api() as client:
        assert_error(client.post("/v1/jobs", json={"path": path}), status, code)
        assert client.get("/v1/jobs").json()["total"] == 0


def test_no_media_roots_means_no_paths(make_api):
    with make_api(media_roots=[]) as client:
        error = assert_error(submit(client), 403, "path_not_allowed")
        assert "--media-root" in error["fix"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"path": "clip.mp4", "analyzers": ["nope"]}, 422, "unknown_analyzer"),
        ({"path": "clip.mp4", "preset": "nope"}, 422, "unknown_analyzer"),
        ({"path": "clip.mp4", "params": {"cut_analysis": {"min_cut_ratio": "high"}}}, 422, "invalid_params"),
        ({"path": "clip.mp4", "params": {"cut_analysis": {"bogus": 1}}}, 422, "invalid_params"),
        ({"path": "clip.mp4", "analyzers": ["cut_analysis"], "preset": "visual"}, 422, "invalid_request"),
        ({"path": "clip.mp4", "url": "https://example.com/v"}, 422, "invalid_request"),
        ({}, 422, "invalid_request"),
        ({"url": "file:///etc/passwd"}, 422, "url_not_allowed"),
        ({"url": "ftp://93.184.216.34/v.mp4"}, 422, "url_not_allowed"),
        ({"url": "https://93.184.216.34/v.mp4", "analyzers": ["nope"]}, 422, "unknown_analyzer"),
        ({"url": "https://93.184.216.34/v.mp4", "params": {"cut_analysis": {"bogus": 1}}}, 422, "invalid_params"),
        ({"path": "clip.mp4", "surprise": True}, 422, "invalid_request"),
        ({"path": "clip.mp4", "webhook_url": "file:///etc/passwd"}, 422, "url_not_allowed"),
    ],
)
def test_bad_requests_are_refused_before_any_job_exists(make_api, body, status, code):
    with make_api() as client:
        assert_error(client.post("/v1/jobs", json=body), status, code)
        assert client.get("/v1/jobs").json()["total"] == 0


def test_malformed_bodies(make_api):
    with make_api(max_request_bytes=4096) as client:
        assert_error(client.post("/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}), 400, "bad_request")
        assert_error(client.post("/v1/jobs", content=b"x", headers={"content-type": "text/plain"}), 415, "unsupported_content_type")
        huge = json.dumps({"path": "clip.mp4", "params": {"cut_analysis": {"x": "y" * 10_000}}})
        assert_error(client.post("/v1/jobs", content=huge, headers={"content-type": "application/json"}), 413, "request_too_large")


def test_a_preset_expands_to_its_analyzers(make_api):
    with make_api() as client:
        job = client.post("/v1/jobs", json={"path": "clip.mp4", "preset": "loudness"}).json()
        assert job["analyzers"] == ["audio_analysis"]
        presets = client.get("/v1/analyzers").json()["presets"]
        assert {"audio_analysis", "speech_transcription"} <= set(presets["audio"])
        assert set(presets["speech"]) == {"speech_emotion", "speech_transcription"} and "cut_analysis" in presets["visual"]


def test_unknown_jobs_and_routes_use_the_error_shape(make_api):
    with make_api() as client:
        assert_error(client.get("/v1/jobs/0123456789abcdef01234567"), 404, "job_not_found")
        assert_error(client.get("/v1/jobs/nope/report"), 404, "job_not_found")
        assert_error(client.delete("/v1/jobs/nope"), 404, "job_not_found")
        assert_error(client.get("/v1/nothing-here"), 404, "not_found")
        assert_error(client.put("/v1/jobs"), 405, "method_not_allowed")


def test_analyzers_endpoint_describes_each_with_its_params_schema(make_api):
    with make_api() as client:
        body = client.get("/v1/analyzers").json()
        by_name = {a["name"]: a for a in body["analyzers"]}
        cut = by_name["cut_analysis"]
        assert cut["available"] is True and cut["reason"] is None
        assert "min_cut_ratio" in cut["params_schema"]["properties"]
        assert cut["needs"]["frames"] is not None and by_name["audio_analysis"]["needs"]["audio"] is not None
        assert by_name["visual_effects"]["needs"]["after"] == ["cut_analysis"]
