"""Schemathesis generates requests from the app's own OpenAPI schema (valid and invalid bodies,
params and headers, for every operation) and none of them may get a 5xx; every error answer
has the one error shape."""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from reelscope.api.app import create_app
from reelscope.core.settings import Settings

NOTHING_TO_NEGATE = {
    "/health", "/health/ready", "/metrics", "/v1/analyzers", "/v1/jobs/{job_id}",
    "/v1/jobs/{job_id}/transcript.vtt", "/v1/jobs/{job_id}/transcript.srt",
}  # fmt: skip


@pytest.fixture(scope="module")
def schema(tmp_path_factory, shots_clip):
    root = tmp_path_factory.mktemp("fuzz-media")
    shutil.copy(shots_clip[0], root / "clip.mp4")
    data = tmp_path_factory.mktemp("fuzz-data")
    app = create_app(Settings(data_dir=data, media_roots=[root], executor="inline", workers=1, max_queued_jobs=5))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_server_error(schema, mode):
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/jobs", "GET /v1/jobs", "GET /v1/jobs/{job_id}", "DELETE /v1/jobs/{job_id}",
        "GET /v1/jobs/{job_id}/report", "GET /v1/analyzers", "GET /health", "GET /health/ready", "GET /metrics",
    }
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, case.body, response.text)
            if response.status_code >= 400 and not (operation.path == "/health/ready" and response.status_code == 503):
                body = response.json()
                assert set(body) == {"error"} and body["error"]["status"] == response.status_code, response.text

        try:
            check()
        except Unsatisfiable:  # nothing to make invalid (no params, no body): only in negative mode
            assert mode == GenerationMode.NEGATIVE and operation.path in NOTHING_TO_NEGATE, operation.path
