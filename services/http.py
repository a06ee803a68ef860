"""What stands between a client and the model: settings, bearer token, body size, multipart checks, file names.

Every refusal is a JSON object ``{"error": "..."}`` with a 4xx status that names the client's file and says what
to send instead; BentoML would answer some of these requests (a field of another name holding binary data, a
malformed multipart body, a text field where the file belongs) with a 500, or fetch a URL given as the file.
"""

from __future__ import annotations

import hmac
import json
import os
import re
from http import HTTPStatus
from pathlib import Path
from typing import Any, ClassVar

import bentoml
from bentoml.exceptions import BentoMLException

from genre.config import ServeConfig, load_config

SEND = ("Send multipart/form-data with the audio file in the field 'audio' (wav, flac, mp3, ogg or au; m4a where "
        "ffmpeg is installed), e.g. curl -F audio=@song.wav URL")
_TEMP_NAME = re.compile(r"^tmp[a-z0-9_]{8}(.*)$")  # tempfile's name: "tmp", 8 random characters, then the suffix


def serve_settings() -> ServeConfig:
    """``[serve]`` from ``$GENRE_SERVE_CONFIG`` (JSON, set by `genre serve`), else from the TOML file
    ``$GENRE_CONFIG``, else the defaults; ``$GENRE_SERVE_TOKEN`` overrides the token."""
    if text := os.environ.get("GENRE_SERVE_CONFIG"):
        cfg = ServeConfig.model_validate_json(text)
    else:
        cfg = load_config(os.environ.get("GENRE_CONFIG")).serve
    if token := os.environ.get("GENRE_SERVE_TOKEN"):
        cfg = cfg.model_copy(update={"token": token})
    return cfg


class Refused(BentoMLException):
    """A request the service will not serve, with the HTTP status that says why."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message, error_code=status)


def clean_name(name: str | None) -> str:
    """A client's file name fit for a message and a temporary file: its last path part, printable, <= 100 chars."""
    name = "".join(c for c in os.path.basename(name or "") if c.isprintable() and c not in "/\\")
    if len(name.encode()) > 100:
        stem, dot, suffix = name.rpartition(".")
        keep = suffix[:10] if dot else ""
        name = name.encode()[: 90 - len(keep)].decode(errors="ignore") + (f".{keep}" if keep else "")
    return name or "upload"


def client_name(path: Path) -> str:
    """The name the client gave the file, from the temporary file BentoML wrote it to (``tmpXXXXXXXX<name>``)."""
    found = _TEMP_NAME.match(path.name)
    return (found.group(1) if found else path.name) or "upload"


class Upload(bentoml.IODescriptor):
    """Base of the upload inputs: multipart only, file fields hold files and the others text, no unknown fields;
    at most ``max_files`` files (more: 413, saying ``more_files``)."""

    max_files: ClassVar[int] = 1
    more_files: ClassVar[str] = "send the others in another request"

    @classmethod
    async def from_http_request(cls, request: Any, serde: Any) -> Any:
        from pydantic import ValidationError
        from starlette.datastructures import UploadFile
        from starlette.exceptions import HTTPException

        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "multipart/form-data":
            raise Refused(f"a request body of type {kind or '(none)'} cannot be classified. {SEND}.",
                          HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        too_many = Refused(f"at most {cls.max_files} file(s) per request: {cls.more_files}",
                           HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        slack = len(cls.model_fields)  # room for a file in a wrong field, which gets its own message below
        try:
            form = await request.form(max_files=cls.max_files + slack, max_fields=slack)
        except HTTPException as exc:  # a malformed body, or far more files or fields than allowed
            if "Too many files" in exc.detail:
                raise too_many from exc
            raise Refused(f"the multipart body cannot be read ({exc.detail}). {SEND}.") from exc
        unknown = sorted(set(form) - set(cls.model_fields))
        if unknown:
            raise Refused(f"unexpected field {', '.join(map(repr, unknown))}. {SEND}.")
        for key in cls.multipart_fields:
            values = form.getlist(key)
            if not values and cls.model_fields[key].is_required():
                raise Refused(f"no file in the field {key!r}. {SEND}.")
            if any(not isinstance(v, UploadFile) for v in values):
                raise Refused(f"the field {key!r} holds text, not a file. {SEND}.")
            if len(values) > cls.max_files:
                raise too_many
            for value in values:
                value.filename = clean_name(value.filename)
        for key in set(form) - set(cls.multipart_fields):
            if not isinstance(value := form[key], str):
                raise Refused(f"the field {key!r} holds a file ({clean_name(value.filename)}), not a value. {SEND}.")
        try:
            return await super().from_http_request(request, serde)
        except ValidationError as exc:
            where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise Refused(f"invalid form fields ({where}). {SEND}.") from exc


def _error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


class Guard:
    """ASGI middleware: bearer token on ``protected`` paths (401), body size on every request (413, from the
    Content-Length header before any of the body is read, else once the bytes received pass the limit), and one
    error shape (BentoML sends its 4xx errors as a one-element list)."""

    def __init__(self, app: Any, max_bytes: int, token: str | None, protected: frozenset[str]) -> None:
        self.app, self.max_bytes, self.token, self.protected = app, max_bytes, token, protected

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.token and scope["path"] in self.protected:
            given = headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                why = "a wrong bearer token" if given else "no Authorization header"
                return await _respond(send, HTTPStatus.UNAUTHORIZED,
                                      f"{why}: send the header 'Authorization: Bearer <token>' with the token the "
                                      "service was started with (serve.token or GENRE_SERVE_TOKEN)",
                                      ((b"www-authenticate", b"Bearer"),))
        limit = f"the request is larger than the limit of {self.max_bytes / 2**20:g} MB (serve.max_upload_mb)"
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            return await _respond(send, HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                  f"{limit}: send a shorter or more compressed file (e.g. mp3 or ogg), or cut it")
        received = 0

        async def counted() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise Refused(f"{limit}: send a shorter or more compressed file (e.g. mp3 or ogg), or cut it",
                              HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return message

        await self.app(scope, counted, _one_error_shape(send))


async def _respond(send: Any, status: HTTPStatus, message: str, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = _error_body(message)
    await send({"type": "http.response.start", "status": status.value,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *extra]})
    await send({"type": "http.response.body", "body": body})


def _one_error_shape(send: Any) -> Any:
    """``send`` that turns BentoML's ``[{"error": ...}]`` 4xx bodies into ``{"error": ...}``."""
    held: dict[str, Any] | None = None

    async def wrapped(message: dict[str, Any]) -> None:
        nonlocal held
        if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
            held = message
            return
        if held is not None and message["type"] == "http.response.body" and not message.get("more_body"):
            body = message.get("body", b"")
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            if isinstance(parsed, list) and len(parsed) == 1 and isinstance(parsed[0], dict):
                body = json.dumps(parsed[0]).encode()
            headers = [(k, v) for k, v in held["headers"] if k.lower() != b"content-length"]
            await send({**held, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            held = None
            return await send({**message, "body": body})
        if held is not None:  # a streamed error body: pass it on as it is
            await send(held)
            held = None
        await send(message)

    return wrapped
