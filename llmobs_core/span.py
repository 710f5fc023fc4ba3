"""The span: a slotted record that lives on the caller's thread until it finishes, then is
handed, unencoded, to the writer."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from time import perf_counter_ns, time_ns
from typing import Any, Final

from .context import current_parent, restore
from .span_errors import error_of

KINDS: Final = ("agent", "embedding", "llm", "retrieval", "task", "tool", "workflow")
MODEL_KINDS: Final = frozenset(("llm", "embedding"))
_INHERITING: Final = frozenset(("llm", "tool"))
# The sample rate of every span that keeps its whole trace, one float object for all: typed
# object and not a literal, so the compiled build reads it instead of boxing 1.0 for each span.
_ALL: Final[object] = float(1)
# The rare fields of a span that has none of them (RARE_FIELDS): one tuple for all such spans.
_UNSET: Final[object] = (None, _ALL, None, None)
# What an adapter sets as the unit_span of the span it opened for a request or task: a
# reference to the span itself would be a cycle, which only the garbage collector frees.
THIS_SPAN: Final = object()


# What a finished span hands to the writer: a plain tuple of these fields, in this order (built
# by LLMObsSpan.record, read by span_events.py). Never a tuple subclass: the cyclic GC
# untracks only exact tuples, and records wait in the writer's queue. The last field is a
# tuple of the four that most spans leave unset (RARE_FIELDS), so that a record has 19 items:
# CPython reuses tuples of fewer than 20 from a free list, and a reused one does not count
# toward the next garbage collection, which a busy server would otherwise run every few
# hundred spans (docs/asgi.md, "A fourth look"). For the same reason `tags` is annotate()'s
# dict, or a tuple of keys and values in turn where an adapter tags a span nobody annotated.
SpanRecord = tuple
RECORD_FIELDS: Final = (
    "kind", "name", "trace_id", "span_id", "parent_id", "apm_trace_id", "ml_app", "session_id",
    "model_name", "model_provider", "start_ns", "duration_ns", "error", "input", "output",
    "metadata", "metrics", "tags", "rare",
)
RARE_FIELDS: Final = ("tool_definitions", "sample_rate", "extras", "pagent")
RareFields = tuple[Any, Any, Any, Any]

# Ids come from a generator of llmobs's own, seeded by the operating system and again in each
# forked child, so an application's random.seed() (or a fork) never makes ids repeat.
_ids: Final = random.Random()
# Final: the compiled build (setup.py) reads these from C statics, not the module's dict.
_random_bits: Final = _ids.getrandbits
_clock_ns: Final = time_ns
_monotonic_ns: Final = perf_counter_ns
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.seed)


def new_span_id() -> int:
    return _random_bits(64) or 1


def new_trace_id(start_ns: int) -> int:
    """128 bits: Unix seconds in the top 32, zeros in the next 32, 64 random bits below
    (docs/wire-formats.md)."""
    return (start_ns // 1_000_000_000) << 96 | (_random_bits(64) or 1)


class LLMObsSpan:
    """One unit of work: an LLM call, or the workflow, agent, tool, task, retrieval or embedding
    around it. Use it as a context manager; `LLMObs.annotate` fills it in."""

    __slots__ = (
        "kind", "name", "trace_id", "span_id", "parent_id", "apm_trace_id", "ml_app",
        "session_id", "model_name", "model_provider", "start_ns", "duration_ns", "_start_perf",
        "error", "input", "output", "metadata", "metrics", "tags", "tool_definitions", "extras",
        "_parent", "_token", "_on_finish", "sample_rate", "sampled", "pagent", "trace_session",
        "unit_span",
    )

    # The compiled build (setup.py) keeps these in C struct fields, which check their declared
    # types: every field code outside llmobs may set (annotate, adapters, users' own code) is
    # Any, so that any value is taken, as here, and a bad one costs only its span (dropped and
    # counted when its event cannot be built), never an exception in the application.
    kind: Any
    name: Any
    trace_id: Any
    span_id: Any
    parent_id: Any
    apm_trace_id: Any
    ml_app: Any
    session_id: Any
    model_name: Any
    model_provider: Any
    start_ns: Any
    duration_ns: Any
    _start_perf: int
    error: Any
    input: Any
    output: Any
    metadata: Any
    metrics: Any
    tags: Any
    tool_definitions: Any
    extras: Any
    _parent: Any
    _token: Any
    _on_finish: Callable[[SpanRecord], None]
    sample_rate: Any
    sampled: Any
    pagent: Any
    trace_session: list[Any]
    unit_span: Any

    def __init__(
        self,
        kind: str,
        name: str,
        parent: Any,
        ml_app: str,
        session_id: str | None,
        on_finish: Callable[[SpanRecord], None],
        model_name: str | None = None,
        model_provider: str | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.span_id = _random_bits(64) or 1  # new_span_id() and new_trace_id(), inlined
        self.start_ns = start_ns = _clock_ns()
        # A child shares its parent's sampling decision; the tracer decides for the others.
        # pagent: the nearest enclosing agent span, (name, span id), as ddtrace resolves it
        # when a span starts. trace_session: one cell shared by the spans of this trace in
        # this process, holding the first session any of them was opened with (ddtrace's
        # trace-level default session, given to later spans whose parent has none).
        # unit_span: the span of the request (or task) this span runs in, inherited from the
        # parent (THIS_SPAN on that span, set by the adapter that opened it), so that the
        # adapter finds it from any span below with a slot read, not a second context variable.
        if parent is None:
            self.trace_id = self.apm_trace_id = (
                (start_ns // 1_000_000_000) << 96 | (_random_bits(64) or 1))
            self.parent_id = None
            self.sample_rate = _ALL
            self.sampled = True
            self.pagent = None
            self.trace_session = [session_id]
            self.unit_span = None
        else:
            self.trace_id = parent.trace_id
            self.apm_trace_id = parent.apm_trace_id
            if type(parent) is LLMObsSpan:
                self.parent_id = parent.span_id
                self.sample_rate = parent.sample_rate
                self.sampled = parent.sampled
                self.pagent = ((parent.name, parent.span_id) if parent.kind == "agent"
                               else parent.pagent)
                unit = parent.unit_span
                self.unit_span = parent if unit is THIS_SPAN else unit
                cell = self.trace_session = parent.trace_session
                if not session_id:
                    session_id = cell[0]
                elif cell[0] is None:
                    cell[0] = session_id
            else:
                self.parent_id = parent.parent_id
                self.sample_rate = _ALL
                self.sampled = True
                self.pagent = parent.pagent
                self.trace_session = [session_id]
                self.unit_span = None
        # An llm span inherits its parent's prompt, a tool span its version from the llm
        # span that defined it: both read at finish, when the parent's annotations are known.
        self._parent = parent if kind in _INHERITING and type(parent) is LLMObsSpan else None
        self.ml_app = ml_app
        self.session_id = session_id
        self.model_name = model_name
        self.model_provider = model_provider
        self.error = None
        self.input = None
        self.output = None
        self.metadata = None
        self.metrics = None
        self.tags = None
        self.tool_definitions = None
        self.extras = None  # "prompt", "tool": rare, so kept apart
        self._token = None
        self._on_finish = on_finish
        self.duration_ns = None
        self._start_perf = _monotonic_ns()

    @property
    def finished(self) -> bool:
        return self.duration_ns is not None

    @property
    def status(self) -> str:
        return "ok" if self.error is None else "error"

    def __enter__(self) -> LLMObsSpan:
        self._token = current_parent.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        # finish() and deactivate() inlined: this runs for every span.
        try:
            if exc is not None:
                self.set_exception(exc)
            if self.duration_ns is None:
                self.duration_ns = _monotonic_ns() - self._start_perf
                if self._parent is not None:
                    self._inherit()
                self._on_finish(self.record())
        finally:
            token = self._token
            if token is not None:
                self._token = None
                try:
                    current_parent.reset(token)
                except ValueError:
                    pass

    def deactivate(self) -> None:
        token, self._token = self._token, None
        restore(token)

    def set_exception(self, exc: BaseException) -> None:
        """Record `exc` as the span's error with what can be read of it: an exception whose
        __str__ (or whose traceback's formatting) raises still gives its type."""
        self.error = error_of(exc)

    def finish(self) -> None:
        """End the span and hand it to the exporter. Calling it again does nothing."""
        if self.duration_ns is None:
            self.duration_ns = _monotonic_ns() - self._start_perf
            if self._parent is not None:
                self._inherit()
            self._on_finish(self.record())

    def _inherit(self) -> None:
        parent, self._parent = self._parent, None
        if parent is None:
            return
        if self.kind == "llm":
            if parent.extras is None:  # the usual case: no prompt to inherit
                return
            extras = self.extras or {}
            prompt = parent.extras.get("prompt")
            if prompt is not None and "prompt" not in extras:
                self.extras = {**extras, "prompt": prompt}
            return
        extras = self.extras or {}
        if parent.kind == "llm" and parent.tool_definitions and "tool" not in extras:
            version = next((d.get("version") for d in parent.tool_definitions or ()
                            if type(d) is dict and d.get("name") == self.name), None)
            if version:
                self.extras = {**extras, "tool": {"version": str(version)}}

    def record(self) -> SpanRecord:
        """The finished span's fields, in RECORD_FIELDS order, for the writer. A tuple of atoms
        and such tuples (no dict) is untracked by the cyclic GC, where the span itself would be
        scanned again and again while it waits in the queue. Spelled out rather than an
        attrgetter: reading a slot in Python bytecode costs a fifth of what attrgetter pays."""
        return (self.kind, self.name, self.trace_id, self.span_id, self.parent_id,
                self.apm_trace_id, self.ml_app, self.session_id, self.model_name,
                self.model_provider, self.start_ns, self.duration_ns, self.error, self.input,
                self.output, self.metadata, self.metrics, self.tags,
                _UNSET if (self.tool_definitions is None and self.sample_rate is _ALL
                           and self.extras is None and self.pagent is None)
                else (self.tool_definitions, self.sample_rate, self.extras, self.pagent))

    def __repr__(self) -> str:
        return (
            f"<LLMObsSpan {self.kind} {self.name!r} trace_id={self.trace_id:032x} "
            f"span_id={self.span_id} status={self.status}>"
        )


class NoopSpan:
    """What every span-opening call gives back while llmobs is disabled: the user's code runs,
    nothing is recorded."""

    __slots__ = ()
    kind = None
    name = None
    ml_app = None
    session_id = None
    finished = True

    def __enter__(self) -> NoopSpan:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def finish(self) -> None:
        return None

    def set_exception(self, exc: BaseException) -> None:
        return None

    def deactivate(self) -> None:
        return None


NOOP_SPAN: Final = NoopSpan()
