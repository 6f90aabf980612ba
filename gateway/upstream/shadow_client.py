"""The shadow path's calls to the model that did not serve: non-streaming, same parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from gateway.upstream.aliases import AliasUpstreams
from gateway.upstream.client import UpstreamFailure
from monitors import answers
from monitors.shadow import Completion
from router.types import Target


class ShadowClient:
    """Implements monitors.shadow.OtherModel over the gateway's pooled upstream clients."""

    def __init__(self, aliases: Callable[[], Mapping[str, AliasUpstreams]]) -> None:
        self._aliases = aliases  # read per call: a reload may replace the clients

    async def complete(
        self,
        alias: str,
        target: Target,
        endpoint: str,
        body: Mapping[str, Any],
        request_id: str,
    ) -> Completion | None:
        pair = self._aliases().get(alias)
        if pair is None:
            return None
        upstream = pair.get(target)
        payload = orjson.dumps({**body, "model": upstream.model})
        try:
            reply = await upstream.post("/" + endpoint, payload, request_id)
        except UpstreamFailure:
            return None
        if reply.status != 200:
            return None
        text = answers.text_of_json(reply.content, endpoint == "chat/completions")
        if text is None:
            return None
        return Completion(text, answers.total_tokens(answers.usage_of_json(reply.content)))
