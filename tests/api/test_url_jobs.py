"""URL jobs: POST /v1/jobs with a url is refused at once when the URL is not public http(s),
otherwise queued and downloaded by the job's runner; the report's source names the URL and the
platform metadata; download failures end the job failed with their code."""

from __future__ import annotations

from api_helpers import assert_error, wait_final
from tests.ingest.http_fixtures import MediaServer


def test_url_job_downloads_then_analyses(make_api, shots_clip):
    with MediaServer() as server, make_api() as client:
        url = server.add_file("/clip.mp4", shots_clip[0])
        body = {"url": url, "analyzers": ["cut_analysis"]}
        submitted = client.post("/v1/jobs", json=body)
        assert submitted.status_code == 202, submitted.text
        job = wait_final(client, submitted.json()["job_id"])
        assert job["status"] == "succeeded", job
        assert job["source"] == url  # a URL is shown whole; server paths never are
        report = client.get(f"/v1/jobs/{job['job_id']}/report").json()
        assert report["source"]["url"] == url
        assert report["source"]["platform"]["platform"] == "generic"
        assert report["analyzers"]["cut_analysis"]["summary"]["hard_cut_count"] == 2
        # the same URL with the same analysis is the same job: no second download
        requests_before = len(server.seen("/clip.mp4"))
        again = client.post("/v1/jobs", json=body)
        assert again.status_code == 200 and again.json()["job_id"] == job["job_id"]
        assert len(server.seen("/clip.mp4")) == requests_before


def test_download_failures_fail_the_job_with_their_code(make_api):
    with MediaServer() as server, make_api(download_attempts=1) as client:
        gone = server.add_status("/gone.mp4", 404)
        job_id = client.post("/v1/jobs", json={"url": gone, "analyzers": ["cut_analysis"]}).json()["job_id"]
        job = wait_final(client, job_id)
        assert job["status"] == "failed"
        assert job["error"].startswith("video_removed")


def test_private_addresses_are_refused_before_any_job_exists(make_api):
    with make_api(allow_private_urls=False) as client:
        for url in ("http://127.0.0.1:8000/v1/jobs", "http://[::ffff:10.0.0.1]/v.mp4", "http://169.254.169.254/latest/meta-data"):
            error = assert_error(client.post("/v1/jobs", json={"url": url}), 422, "url_not_allowed")
            assert "REELSCOPE_ALLOW_PRIVATE_URLS" in error["fix"]
        assert client.get("/v1/jobs").json()["total"] == 0
