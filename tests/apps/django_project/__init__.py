"""A Django project for the llmobs_django tests: sync and async views, streaming, errors, and a
view that calls onward through an instrumented httpx client. `harness` configures it in the
pytest process and serves it with uvicorn."""
