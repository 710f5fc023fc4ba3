"""The process-wide state while llmobs is enabled: its configuration and its writer, and the
function every span-opening path goes through."""

from __future__ import annotations

import atexit
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from ._log import warn_limited
from ._signals import install_sigterm_drain, uninstall_sigterm_drain
from ._values import as_name, is_ascii, safe_repr
from .annotation_context import apply_contexts
from .config import Config, ml_app_problem
from .context import annotation_contexts, current_parent
from .export.writer import Writer
from .sampling import keeps
from .sampling_rules import first_match, root_tags
from .span import NOOP_SPAN, LLMObsSpan, NoopSpan

if TYPE_CHECKING:
    from .propagation.headers import RemoteContext

ACTIVE: Final[Any] = object()  # start_span's default parent: the one active in the context


class Tracer:
    def __init__(self, config: Config, writer: Writer) -> None:
        self.config = config
        self.writer = writer
        self.default_ml_app = config.default_ml_app
        self.enqueue = writer.enqueue
        self.sample_rate = config.sample_rate
        self.sampled_out = writer.sampled_out
        self.rules = config.sampling_rules
        # What a sampling rule sees of every root besides its own tags, as ddtrace's initial
        # tags (DD_TAGS first, the fixed ones over them; service, env, version empty if unset)
        self.rule_tags = {**dict(tag.split(":", 1) for tag in config.tags),
                          "service": config.service or "", "env": config.env or "",
                          "version": config.version or "", "language": "python",
                          "source": "integration"}

    def start_span(
        self,
        kind: str,
        name: Any,
        session_id: Any = None,
        ml_app: Any = None,
        model_name: Any = None,
        model_provider: Any = None,
        parent: Any = ACTIVE,
    ) -> LLMObsSpan:
        """Open a span under `parent`: a span, a remote context, None for a new trace, or, by
        default, whatever is active in the current context. Names and ids that are not plain
        strings are written out (session_id=42 is "42") or ignored with a warning."""
        if type(name) is not str or not name or not is_ascii(name):
            name = _text_option("name", name) or kind
        if session_id is not None and (type(session_id) is not str or not is_ascii(session_id)):
            session_id = _text_option("session_id", session_id)
        if model_name is not None and (type(model_name) is not str or not is_ascii(model_name)):
            model_name = _text_option("model_name", model_name)
        if model_provider is not None and (
                type(model_provider) is not str or not is_ascii(model_provider)):
            model_provider = _text_option("model_provider", model_provider)
        if parent is ACTIVE:
            parent = current_parent.get()
        if parent is None:
            inherited_app = self.default_ml_app
            session_id = session_id or None
        else:
            inherited_app = parent.ml_app or self.default_ml_app
            session_id = session_id or parent.session_id  # else the trace's (LLMObsSpan)
        # A name equal to the inherited one (often the middleware's) is known to be valid.
        if ml_app is not None and not (type(ml_app) is str and (
                ml_app == inherited_app or _valid_ml_app(ml_app))):
            ml_app = _checked_ml_app(ml_app, inherited_app)
        span = LLMObsSpan(kind, name, parent, ml_app or inherited_app, session_id,
                          self.enqueue, model_name, model_provider)
        contexts = annotation_contexts.get()
        if contexts:
            apply_contexts(span, contexts)
        if type(parent) is not LLMObsSpan and (
                parent is not None or self.sample_rate != 1.0 or self.rules):
            self._decide(span, parent)
        if not span.sampled:
            span._on_finish = self.sampled_out.span
        return span

    def _decide(self, span: LLMObsSpan, remote: RemoteContext | None) -> None:
        """The sampling decision of a trace's first span here: the one that came with the
        headers, else the local rate applied to the APM trace id."""
        if remote is not None and remote.sampled is not None:
            span.sampled = remote.sampled
            span.sample_rate = (self.sample_rate if remote.sample_rate is None
                                else remote.sample_rate)
        else:
            rule = first_match(self.rules, root_tags(span, self.rule_tags)) if self.rules else None
            span.sample_rate = self.sample_rate if rule is None else rule.sample_rate
            span.sampled = keeps(span.apm_trace_id, span.sample_rate)
        if not span.sampled:
            self.sampled_out.trace(span.trace_id)

    def local_store_path(self) -> Any:
        """The file of the first local-store sink, or None."""
        return next((getattr(sink, "path", None) for sink in self.writer.sinks
                     if type(sink).__name__ == "LocalStoreSink"), None)

    def shutdown(self) -> None:
        self.writer.shutdown(self.config.shutdown_timeout)


def app_option(ml_app: Any, agent_service: Any) -> Any:
    """ddtrace 4.x's name for ml_app is agent_service; given both, agent_service wins."""
    return ml_app if agent_service is None else agent_service


def start(kind: str, name: Any, session_id: Any, ml_app: Any, agent_service: Any,
          model_name: Any = None, model_provider: Any = None) -> LLMObsSpan | NoopSpan:
    """What LLMObs's span-opening methods return (compiled with the span path, where api.py is
    not): a span from the active tracer, or NOOP_SPAN while llmobs is disabled."""
    tracer = state.tracer
    if tracer is None:
        return NOOP_SPAN
    return tracer.start_span(kind, name, session_id, app_option(ml_app, agent_service),
                             model_name, model_provider)


def _text_option(option: str, value: Any) -> str | None:
    text = as_name(value)
    if text is None and value is not None and type(value) is not str:  # None: left out
        warn_limited(f"span.{option}", "llmobs: %s=%s ignored: use a string (or a number)",
                     option, safe_repr(value))
    return text


def _checked_ml_app(ml_app: Any, inherited_app: str) -> str | None:
    name = ml_app if type(ml_app) is str else as_name(ml_app)
    if name is not None and _valid_ml_app(name):
        return name
    warn_limited("span.ml_app", "llmobs: ml_app %s is invalid (%s); using %r",
                 safe_repr(ml_app), ml_app_problem(name if name is not None else ml_app),
                 inherited_app)
    return None


@lru_cache(maxsize=256)
def _valid_ml_app(name: str) -> bool:
    return ml_app_problem(name) is None


class _Global:
    """Holds the one active tracer; None means disabled."""

    tracer: Tracer | None = None
    atexit_registered = False


state: Final = _Global()


class EnabledFlag:
    """LLMObs.enabled: true while a tracer is installed. A bool-like (`if LLMObs.enabled:`,
    `LLMObs.enabled == True`), and callable for code written when it was a method."""

    __slots__ = ()

    def __get__(self, instance: Any, owner: Any = None) -> EnabledFlag:
        return self

    def __bool__(self) -> bool:
        return state.tracer is not None

    def __call__(self) -> bool:
        return state.tracer is not None

    def __eq__(self, other: object) -> bool:
        return bool(self) == other if type(other) is bool else NotImplemented

    def __hash__(self) -> int:
        return hash(bool(self))

    def __repr__(self) -> str:
        return repr(bool(self))


def install(tracer: Tracer) -> None:
    state.tracer = tracer
    if not state.atexit_registered:
        atexit.register(_drain_at_exit)
        state.atexit_registered = True
    install_sigterm_drain(_drain_at_exit)


def uninstall() -> Tracer | None:
    tracer, state.tracer = state.tracer, None
    uninstall_sigterm_drain()
    return tracer


def _drain_at_exit() -> None:
    tracer = state.tracer
    if tracer is not None:
        tracer.shutdown()
