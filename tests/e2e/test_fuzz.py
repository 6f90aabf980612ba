"""Schemathesis against the gateway's own OpenAPI schema: no 500s, errors in the OpenAI envelope."""

from __future__ import annotations

from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, given

from tests.fakes.stack import StackFactory


def test_generated_requests_never_crash_the_gateway(make_stack: StackFactory) -> None:
    stack = make_stack(extra_yaml="server: {max_body_bytes: 65536, docs: true}\n")
    schema = schemathesis.openapi.from_url(stack.url + "/openapi.json")
    # every operation of the schema loads (an invalid one raises here)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert {op.path for op in operations} >= {"/v1/chat/completions", "/v1/completions"}
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,  # the same examples on every run: a failure can be replayed
            database=None,
        )
        def check(case: Any) -> None:
            response = case.call(base_url=stack.url)
            statuses.append(response.status_code)
            assert response.status_code < 500, (case.method, case.path, response.text[:300])
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error"}, body
                assert {"message", "type", "param", "code"} <= set(body["error"])

        check()
    # generated cases really went through: answered ones, and refused ones with a 4xx
    assert len(statuses) > 50
    assert any(s == 200 for s in statuses) and any(400 <= s < 500 for s in statuses)
