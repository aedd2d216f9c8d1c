"""The HTTP guard in front of the demo's API: oversized and non-UTF-8 JSON bodies.

Gradio parses request bodies with FastAPI, which answers a JSON body holding bytes that
are not UTF-8 with a bare ``400 There was an error parsing the body`` and buffers a
body of any size.  :class:`RequestGuard` (an ASGI middleware that
:class:`~translator.demo.page.DemoApp`'s ``launch`` installs) sits before it:

* a JSON body over :data:`MAX_BODY_BYTES` is refused with ``413`` and a message that
  says the limit (inputs are cut to :data:`~translator.demo.service.MAX_INPUT_CHARS`
  characters anyway);
* undecodable bytes in a JSON body are written as the JSON escapes ``\\udc80`` to
  ``\\udcff`` (Python's ``surrogateescape`` code points), so the request goes through;
  :func:`~translator.demo.service.clean_input` turns them into ``�`` and the notes say
  the input was not valid UTF-8.

Other requests (file uploads, pages, files) pass untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from translator.demo.service import MAX_INPUT_CHARS

#: The largest JSON request body accepted: room for a pasted megabyte (cut to
#: MAX_INPUT_CHARS by the service, with a note), and eight times the largest body a
#: MAX_INPUT_CHARS input makes (12 bytes a character, as ``\ud83d\ude00`` escapes).
#: Gradio keeps each session's inputs (see ``STATE_SESSIONS`` in
#: :mod:`translator.demo.page`), so this also bounds what a session can hold.
MAX_BODY_BYTES = 2 * 2**20

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_ESCAPED_BYTES = re.compile("[\udc80-\udcff]")


def escape_invalid_utf8(body: bytes) -> bytes:
    """``body`` with each byte that is not valid UTF-8 written as a ``\\udcXX`` escape
    (unchanged when it is valid UTF-8)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", errors="surrogateescape")
        return _ESCAPED_BYTES.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")
    return body


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _is_json_post(scope: Scope) -> bool:
    if scope.get("type") != "http" or scope.get("method") != "POST":
        return False
    content_type = (_header(scope, b"content-type") or "").lower()
    return not content_type or "json" in content_type  # FastAPI reads a bare body as JSON


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _too_large(size: int | str, limit: int) -> str:
    shown = f"{size:,} bytes" if isinstance(size, int) else f"over {limit:,} bytes"
    return (
        f"The request body is {shown}; the demo accepts at most {limit:,} "
        f"(inputs are cut to {MAX_INPUT_CHARS:,} characters anyway)."
    )


class RequestGuard:
    """ASGI middleware: refuses JSON bodies over ``max_body_bytes`` (413, with a
    message) and escapes the bytes that are not UTF-8 in the others (see the module doc).

    Args:
        app: the ASGI app behind the guard.
        max_body_bytes: the largest JSON body accepted.
    """

    def __init__(self, app: Any, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_json_post(scope):
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _refuse(send, 413, _too_large(int(declared), limit))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(send, 413, _too_large("", limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        escaped = escape_invalid_utf8(body)
        if escaped is not body:
            kept = [(k, v) for k, v in scope.get("headers") or () if k.lower() != b"content-length"]
            headers = [*kept, (b"content-length", str(len(escaped)).encode("ascii"))]
            scope = {**scope, "headers": headers}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": escaped, "more_body": False}

        await self.app(scope, replay, send)


__all__ = ["MAX_BODY_BYTES", "RequestGuard", "escape_invalid_utf8"]
