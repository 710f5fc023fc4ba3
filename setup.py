"""The accelerator: the modules every traced request or task runs through are also compiled to
C with mypyc when the package is built, from the same .py files, which stay beside the compiled
modules as their reference and fallback (docs/accelerator.md); and one module written in C,
the Datadog event writer, whose Python reference is the module it speeds up. LLMOBS_COMPILE=0
builds the pure-Python package; so does a machine without a C compiler, with a warning.
Everything else about the package is in pyproject.toml."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Each measured by bench/asgi_instructions.py, bench/celery_tasks.py --instructions and
# bench/export_cost.py --instructions before it was added (docs/accelerator.md).
COMPILED = [
    "llmobs_core/_adapter.py",
    "llmobs_core/_values.py",
    "llmobs_core/annotation_context.py",
    "llmobs_core/annotations.py",
    "llmobs_core/context.py",
    "llmobs_core/span_events.py",
    "llmobs_core/span.py",
    "llmobs_core/tracer.py",
    "llmobs_core/export/_datadog_payload.py",
    "llmobs_core/export/_otlp_mapping.py",
    "llmobs_core/export/_otlp_wire.py",
    "llmobs_core/export/_span_json.py",
    "llmobs_core/export/datadog.py",
    "llmobs_core/export/otlp.py",
    "llmobs_core/export/sizes.py",
    "llmobs_core/export/writer.py",
    "llmobs_core/export/delivery.py",
    "llmobs_core/store/inbox.py",
    "llmobs_core/propagation/common.py",
    "llmobs_core/propagation/datadog.py",
    "llmobs_core/propagation/headers.py",
    "llmobs_core/propagation/spans.py",
    "llmobs_core/propagation/w3c.py",
    "llmobs_starlette/middleware.py",
    "llmobs_starlette/_request.py",
    "llmobs_starlette/_scope.py",
]

# Written in C by hand, each the fast path of the compiled module beside it, which stays the
# reference and takes what the C code does not cover (docs/accelerator.md): each module's C
# file, and the other C files it is built with.
NATIVE = {
    "llmobs_core/export/_span_json_native.c": ["llmobs_core/export/_json_out.c"],
    "llmobs_core/export/_writer_native.c": [],
    "llmobs_core/export/_otlp_native.c": ["llmobs_core/export/_json_out.c"],
    "llmobs_core/propagation/_w3c_native.c": [],
}


def _say(message: str) -> None:
    print(f"llmobs: {message}", file=sys.stderr)


def compiled_modules() -> list:
    if os.environ.get("LLMOBS_COMPILE", "1") == "0":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _say("mypyc (from mypy) is not installed: building the pure-Python package")
        return []
    here = Path(__file__).resolve().parent
    os.chdir(here)  # mypyc names the modules from their paths relative to here
    # The build environment has none of the dependencies (orjson, the optional frameworks and
    # clients): their types matter to `make test`'s mypy run, not to the compiled modules, and
    # the ignores written for them look unused here.
    native = [Extension(path.removesuffix(".c").replace("/", "."), [path, *others],
                        depends=[other.replace(".c", ".h") for other in others])
              for path, others in NATIVE.items()]
    try:
        return native + mypycify(["--ignore-missing-imports", "--no-warn-unused-ignores",
                                  *COMPILED], opt_level="3", group_name="llmobs")
    except (Exception, SystemExit) as exc:  # mypy's type errors end in SystemExit
        _say(f"mypyc could not translate the accelerator ({exc!r}); building the pure-Python "
             "package")
        return []


class BuildOptionalExt(build_ext):
    """All or nothing: when any compiled module fails to build (no C compiler, say), none is
    kept and the package runs on its .py files."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            for output in self.get_outputs():
                Path(output).unlink(missing_ok=True)
            _say(f"the accelerator could not be compiled ({type(exc).__name__}: {exc}); the "
                 "package runs on its pure-Python modules")


setup(ext_modules=compiled_modules(), cmdclass={"build_ext": BuildOptionalExt})
