"""Errors raised by the bridge.

Every wire error code of protocol v1 has its own exception class, all
subclasses of :class:`AikidError`, which carries ``.code`` (the wire code,
e.g. ``"not_found"``), ``.message`` (the daemon's sentence) and
``.request_id``.  A request that gets no reply in time raises
:class:`RequestTimeout`, a subclass of the built-in :class:`TimeoutError`.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Type


class AikidError(Exception):
    """An error reply from aikid (``"ok": false``)."""

    code: str = "internal"

    def __init__(self, message: str = "", *, code: Optional[str] = None,
                 request_id: Optional[str] = None,
                 reply: Optional[Dict[str, Any]] = None) -> None:
        if code is not None:
            self.code = code
        self.message = message
        self.request_id = request_id
        self.reply = reply
        super().__init__(f"{self.code}: {message}" if message else self.code)


class BadJson(AikidError):
    """The request frame was not a JSON object."""
    code = "bad_json"


class BadRequest(AikidError):
    """A field is missing, ill-typed or out of range; the message names it."""
    code = "bad_request"


class TooLarge(AikidError):
    """The request (or a text in it) is larger than the daemon accepts."""
    code = "too_large"


class UnknownOp(AikidError):
    """The daemon does not know the op."""
    code = "unknown_op"


class NotFound(AikidError):
    """The memory, entity or request named does not exist."""
    code = "not_found"


class Busy(AikidError):
    """Admission control: too many requests of this class in flight; retry later."""
    code = "busy"


class Unavailable(AikidError):
    """The part that would serve the request is down; the message says why."""
    code = "unavailable"


class Deadline(AikidError):
    """The request's ``deadline_ms`` passed before it finished."""
    code = "deadline"


class Cancelled(AikidError):
    """A ``cancel`` (or a newer percept) stopped the request."""
    code = "cancelled"


class Internal(AikidError):
    """A failure inside aikid; the message carries the context."""
    code = "internal"


class ProtocolError(AikidError):
    """The daemon's reply does not follow protocol v1 (not raised for wire codes)."""
    code = "protocol"


class RequestTimeout(TimeoutError):
    """No reply arrived within the request's timeout.

    The client's socket has been reset, so a late reply cannot be taken for
    the answer to a later request.
    """

    def __init__(self, message: str, *, op: str = "", request_id: str = "",
                 endpoint: str = "", timeout: float = 0.0) -> None:
        super().__init__(message)
        self.op = op
        self.request_id = request_id
        self.endpoint = endpoint
        self.timeout = timeout


ERRORS: Dict[str, Type[AikidError]] = {
    cls.code: cls
    for cls in (BadJson, BadRequest, TooLarge, UnknownOp, NotFound, Busy,
                Unavailable, Deadline, Cancelled, Internal)
}


def error_from_reply(reply: Dict[str, Any]) -> AikidError:
    """Build the exception for an ``"ok": false`` reply.

    An unknown code gives a plain :class:`AikidError` carrying that code; a
    reply without an ``error`` object gives a :class:`ProtocolError`.
    """
    err = reply.get("error")
    rid = reply.get("id")
    if not isinstance(err, dict):
        return ProtocolError(f"error reply without an 'error' object: {reply!r}",
                             request_id=rid, reply=reply)
    code = str(err.get("code", "internal"))
    message = str(err.get("message", ""))
    cls = ERRORS.get(code)
    if cls is None:
        return AikidError(message, code=code, request_id=rid, reply=reply)
    return cls(message, request_id=rid, reply=reply)
