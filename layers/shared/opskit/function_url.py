"""A Lambda Function URL request in, an `HttpAnswer` out: the little a function behind a Function URL
with a handful of routes needs, without a web framework.

Why not Powertools' event handler: importing `aws_lambda_powertools.event_handler` loads every
resolver it offers (AppSync with asyncio, Bedrock agents, VPC Lattice, ...), about 20-30 ms of each cold
start measured on python3.13, for a function whose whole job is to answer Slack within 3 seconds of a
cold start. A Function URL event (payload format 2.0) is a plain, documented dict: read it here.
https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opskit.http_answer import HttpAnswer, Malformed, Refused, unrouted


@dataclass(frozen=True)
class UrlRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # names in lower case, as Function URLs deliver them
    query: Mapping[str, str]  # repeated keys arrive comma-joined; the first value is kept
    body: str  # as received: base64 when `base64` is true
    base64: bool

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> UrlRequest:
        http = (event.get("requestContext") or {}).get("http") or {}
        query = {
            key: str(value).split(",")[0] for key, value in (event.get("queryStringParameters") or {}).items()
        }
        return cls(
            method=str(http.get("method") or "GET").upper(),
            path=str(event.get("rawPath") or http.get("path") or "/"),
            headers={str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()},
            query=query,
            body=str(event.get("body") or ""),
            base64=bool(event.get("isBase64Encoded")),
        )

    def raw_body(self, limit: int) -> bytes:
        """The body's bytes, refused (413) past `limit` bytes before anything decodes it, and (400) when
        it claims to be base64 and is not."""
        # base64 makes a body a third bigger: measure what arrived against what it may decode to.
        if len(self.body) > (limit * 4 // 3 + 4 if self.base64 else limit):
            raise Refused(413, "request body too large")
        if not self.base64:
            return self.body.encode("utf-8")
        try:
            return base64.b64decode(self.body, validate=True)
        except binascii.Error:
            raise Malformed("the body is not valid base64") from None


Route = Callable[[UrlRequest], HttpAnswer]


def route(request: UrlRequest, routes: Mapping[tuple[str, str], Route]) -> HttpAnswer:
    """The answer of the route for the request's method and path: 404 for a path no route has, 405 (with
    `Allow`) for a method the path does not take. Refused is left to the caller, which words it."""
    handler = routes.get((request.method, request.path))
    if handler is not None:
        return handler(request)
    methods: dict[str, list[str]] = {}
    for method, path in routes:
        methods.setdefault(path, []).append(method)
    return unrouted(request.method, request.path, methods)


def response(answer: HttpAnswer) -> dict[str, Any]:
    """The Function URL response for an answer (a text body, so never base64)."""
    return {
        "statusCode": answer.status,
        "headers": {"Content-Type": answer.content_type, **answer.headers},
        "body": answer.body,
        "isBase64Encoded": False,
    }
