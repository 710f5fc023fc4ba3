"""The public surface, and the core's independence from every framework."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import llmobs_core
import llmobs_core.decorators


def _public_names(module) -> set[str]:
    return {name for name, value in vars(module).items()
            if not name.startswith("_") and getattr(value, "__module__", "").startswith(
                module.__name__.split(".")[0]) and not isinstance(value, type(sys))}


def test_all_lists_exactly_the_public_names_sorted() -> None:
    """__all__ is sorted and names exactly what the package exports."""
    assert llmobs_core.__all__ == sorted(llmobs_core.__all__)
    assert set(llmobs_core.__all__) == _public_names(llmobs_core) | {"KINDS"}
    assert set(llmobs_core.decorators.__all__) == {
        "agent", "embedding", "llm", "retrieval", "task", "tool", "workflow"}


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env})


def test_core_imports_and_traces_with_no_framework_importable() -> None:
    """llmobs_core works when no web framework, task queue or HTTP client can be imported."""
    result = _run("""
        import sys
        BLOCKED = {"starlette", "fastapi", "django", "celery", "kombu", "httpx", "anyio",
                   "click", "rich", "opentelemetry", "ddtrace", "uvicorn"}
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{name} is blocked")
        sys.meta_path.insert(0, Block())
        from llmobs_core import LLMObs
        from llmobs_core.decorators import workflow
        from llmobs_core.testing import capture
        with capture() as captured:
            workflow(lambda: 1)()
        assert len(captured.spans) == 1
        print("ok", sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok []"


def test_dd_llmobs_enabled_enables_at_import() -> None:
    """DD_LLMOBS_ENABLED=1 enables llmobs when the package is imported, from the environment."""
    result = _run("""
        from llmobs_core import LLMObs
        from llmobs_core.tracer import state
        print(LLMObs.enabled(), state.tracer.config.ml_app)
    """, DD_LLMOBS_ENABLED="1", DD_LLMOBS_ML_APP="env-app", LLMOBS_EXPORTER="memory")
    assert result.stdout.split() == ["True", "env-app"], result.stderr


def test_bad_environment_never_breaks_the_hosts_import() -> None:
    """An invalid environment at import logs an error and leaves llmobs disabled."""
    result = _run("""
        import logging; logging.basicConfig()
        from llmobs_core import LLMObs
        print(LLMObs.enabled())
    """, DD_LLMOBS_ENABLED="1", DD_LLMOBS_ML_APP="Bad App")
    assert result.returncode == 0 and result.stdout.strip() == "False"
    assert "must be lowercase" in result.stderr


def test_llmobs_command_without_the_cli_extra_says_what_to_install() -> None:
    """Without click and rich, the console script explains the fix instead of a traceback."""
    result = _run("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"click", "rich"}:
                    raise ImportError(f"{name} is blocked", name=name)
        sys.meta_path.insert(0, Block())
        from llmobs_core.cli import main
        main()
    """)
    assert result.returncode == 2
    assert 'pip install "llmobs[cli]"' in result.stderr and "Traceback" not in result.stderr


def test_adapters_reach_the_core_only_through_its_seam() -> None:
    """The adapters and integrations import llmobs_core's public package or its one seam,
    llmobs_core._adapter, and none of its other modules."""
    import ast
    from pathlib import Path

    root = Path(llmobs_core.__file__).resolve().parent.parent
    files = [*root.glob("llmobs_starlette/**/*.py"), *root.glob("llmobs_django/**/*.py"),
             *root.glob("llmobs_celery/**/*.py"), *root.glob("llmobs_core/integrations/**/*.py")]
    assert len(files) > 10
    reached = set()
    for path in files:
        package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                module = ".".join(filter(None, (base, node.module)))
                modules = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.startswith("llmobs_core") and not module.startswith(
                        "llmobs_core.integrations"):
                    reached.add((path.relative_to(root).as_posix(), module))
    assert {module for _, module in reached} <= {"llmobs_core", "llmobs_core._adapter"}, sorted(
        reached)
