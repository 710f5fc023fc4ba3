"""Applications the tests run: an ASGI app, a Celery app, a Django project."""
