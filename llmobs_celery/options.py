"""What install() accepts, checked once, and the settings each task name resolves to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmobs_core import KINDS

NameOption = str | Callable[[Any], str] | None
_OVERRIDE_KEYS = ("enabled", "kind", "name", "capture_input", "capture_output")


@dataclass(frozen=True, slots=True)
class TaskSettings:
    """How executions of one task become spans."""

    enabled: bool
    kind: str
    name: NameOption
    capture_input: bool
    capture_output: bool

    def span_name(self, task: Any) -> str:
        name = self.name
        if name is None:
            return task.name
        return name if isinstance(name, str) else name(task)


@dataclass(frozen=True, slots=True)
class CeleryOptions:
    """install()'s options. Arguments and return values are not recorded unless asked for:
    task payloads often hold personal data, and installing an integration should not start
    copying them into traces."""

    kind: str = "task"
    name: NameOption = None
    capture_input: bool = False
    capture_output: bool = False
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    builtin_tasks: bool = False
    flush_timeout: float = 5.0

    def __post_init__(self) -> None:
        _check_kind(self.kind, "kind")
        _check_name(self.name, "name")
        for option in ("capture_input", "capture_output", "builtin_tasks"):
            _check_bool(getattr(self, option), option)
        if isinstance(self.flush_timeout, bool) or not isinstance(self.flush_timeout,
                                                                  (int, float)) \
                or self.flush_timeout < 0:
            raise ValueError(f"flush_timeout must be a number of seconds >= 0, "
                             f"got {self.flush_timeout!r}")
        if not isinstance(self.overrides, Mapping):
            raise TypeError("overrides must map task names to dicts of options, "
                            f"not {type(self.overrides).__name__}")
        for task_name, override in self.overrides.items():
            _check_override(task_name, override)
        # A copy, so the caller's dicts changing later cannot change the configuration.
        object.__setattr__(self, "overrides",
                           {name: dict(override) for name, override in self.overrides.items()})

    def settings_for(self, task_name: str) -> TaskSettings:
        override = self.overrides.get(task_name, {})
        builtin = task_name.startswith("celery.")
        return TaskSettings(
            enabled=override.get("enabled", self.builtin_tasks or not builtin),
            kind=override.get("kind", self.kind),
            name=override.get("name", self.name),
            capture_input=override.get("capture_input", self.capture_input),
            capture_output=override.get("capture_output", self.capture_output),
        )


def _check_override(task_name: Any, override: Any) -> None:
    where = f"overrides[{task_name!r}]"
    if not isinstance(task_name, str):
        raise TypeError(f"overrides keys must be task names (str), got {task_name!r}")
    if not isinstance(override, Mapping):
        raise TypeError(f"{where} must be a dict of options, not {type(override).__name__}")
    unknown = sorted(set(override) - set(_OVERRIDE_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {', '.join(map(str, unknown))}; "
                         f"use {', '.join(_OVERRIDE_KEYS)}")
    if "kind" in override:
        _check_kind(override["kind"], f"{where}['kind']")
    if "name" in override:
        _check_name(override["name"], f"{where}['name']")
    for option in ("enabled", "capture_input", "capture_output"):
        if option in override:
            _check_bool(override[option], f"{where}[{option!r}]")


def _check_kind(kind: Any, where: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"{where} must be a span kind ({', '.join(KINDS)}), got {kind!r}")


def _check_name(name: Any, where: str) -> None:
    if name is not None and not isinstance(name, str) and not callable(name):
        raise TypeError(f"{where} must be a str, a callable taking the task, or None; "
                        f"got {type(name).__name__}")
    if isinstance(name, str) and not name:
        raise ValueError(f"{where} must not be empty")


def _check_bool(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{where} must be True or False, got {value!r}")


class Configuration:
    """What install() set: the options, the one app whose tasks are traced (None: all), and
    each task name's resolved settings. Configuration() is "not installed": no task traced."""

    def __init__(self, app: Any = None, options: CeleryOptions | None = None) -> None:
        self.installed = options is not None
        self.app = app
        self.options = options or CeleryOptions()
        self._by_name: dict[str, TaskSettings] = {}

    def settings_for(self, task: Any) -> TaskSettings | None:
        if not self.installed or self.app is not None and task.app is not self.app:
            return None
        name = task.name
        settings = self._by_name.get(name)
        if settings is None:
            settings = self._by_name[name] = self.options.settings_for(name)
        return settings if settings.enabled else None


# The configuration in force, in a one-item list: the task receivers read active[0] directly.
active = [Configuration()]


def configuration() -> Configuration:
    return active[0]


def configure(new: Configuration) -> None:
    active[0] = new
