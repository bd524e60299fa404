"""aiki_bridge: Python side of aikid (wire protocol v1 over ZeroMQ).

* :class:`Client` / :class:`AsyncClient` — requests (DEALER), one method per op.
* :class:`Thoughts` / :class:`AsyncThoughts` — published thoughts (SUB) as typed
  events (:class:`FinalThought`, :class:`TokenThought`, :class:`PerceptEvent`,
  :class:`MemoryEvent`, :class:`StatusEvent`, :class:`OtherEvent`) with
  :class:`Gap` and :class:`Restart` events; :class:`Subscriber` /
  :class:`AsyncSubscriber` give the untyped :class:`Thought` view.
* Streams: ``Client.generate_stream`` / ``perceive_stream`` (and the asyncio
  twins) yield the pieces, then the final reply (:class:`GenerateResult`).
* :class:`Memory` / :class:`AsyncMemory` — mem0's ``Memory`` shape over aikid.
* :class:`AdminClient` — the admin Unix socket (``aikictl`` is its CLI).
* Errors: :class:`AikidError` and one subclass per wire code;
  :class:`RequestTimeout` (a ``TimeoutError``).
"""
from .admin import AdminClient, AdminError
from .aio import AsyncClient
from .client import Client
from .events import (Event, FinalThought, Gap, MemoryEvent, OtherEvent, PerceptEvent, Restart,
                     StatusEvent, ThoughtEvent, TokenThought, event_from)
from .endpoints import default_admin, default_requests, default_thoughts, runtime_dir
from .errors import (ERRORS, AikidError, BadJson, BadRequest, Busy, Cancelled, Deadline,
                     Internal, NotFound, ProtocolError, RequestTimeout, TooLarge, Unavailable,
                     UnknownOp)
from .memory import AsyncMemory, Memory, MemoryNotFoundError, MemoryValidationError
from .protocol import OPS
from .stream import (GenerateResult, agenerate_stream, aperceive_stream, generate_stream,
                     perceive_stream)
from .subscriber import AsyncSubscriber, AsyncThoughts, SeqTracker, Subscriber, Thought, Thoughts

__version__ = "0.1.0"

__all__ = [
    "AdminClient", "AdminError", "AikidError", "AsyncClient", "AsyncMemory", "AsyncSubscriber",
    "BadJson", "BadRequest", "Busy", "Cancelled", "Client", "Deadline", "ERRORS", "Internal",
    "Memory", "MemoryNotFoundError", "MemoryValidationError", "NotFound", "OPS", "ProtocolError",
    "RequestTimeout",
    "SeqTracker", "Subscriber", "Thought", "Thoughts", "TooLarge", "Unavailable", "UnknownOp",
    "default_admin", "default_requests", "default_thoughts", "runtime_dir",
    "AsyncThoughts", "Event", "FinalThought", "Gap", "GenerateResult", "MemoryEvent", "OtherEvent",
    "PerceptEvent", "Restart", "StatusEvent", "ThoughtEvent", "TokenThought", "event_from",
    "agenerate_stream", "aperceive_stream", "generate_stream", "perceive_stream",
]
