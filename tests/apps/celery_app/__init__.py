"""The Celery app for the real-worker tests (`celery -A tests.apps.celery_app worker`). Broker,
result backend, queue and install() options come from the environment, so every test run
uses its own queue; the worker records spans to LLMOBS_LOCAL_PATH."""

from __future__ import annotations

import json
import os

from celery import Celery
from kombu import Queue

from .tasks import register

WORKER_ENV = "LLMOBS_TEST_WORKER"


def make_app(broker: str, backend: str | None, queue: str, **conf: object) -> Celery:
    app = Celery("llmobs_tests", broker=broker, backend=backend, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        # RabbitMQ deletes a test queue nobody used for two minutes; Redis ignores this.
        task_queues=[Queue(queue, routing_key=queue, queue_arguments={"x-expires": 120_000})],
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        result_expires=300,
        **conf,
    )
    register(app)
    return app


def close_app(app: Celery) -> None:
    """Close what app.close() leaves to the garbage collector (celery/celery#4465): the Redis
    result backend's client and pub/sub connections. Left open, their sockets raise
    ResourceWarning whenever a later test happens to collect them."""
    backend = app.backend
    consumer = getattr(backend, "result_consumer", None)
    if getattr(consumer, "_pubsub", None) is not None:
        consumer.stop()
    client = getattr(backend, "client", None)
    if client is not None and hasattr(client, "connection_pool"):
        client.connection_pool.disconnect()
    app.close()


app = make_app(
    os.environ.get("LLMOBS_TEST_BROKER", "memory://"),
    os.environ.get("LLMOBS_TEST_BACKEND") or None,
    os.environ.get("LLMOBS_TEST_QUEUE", "llmobs-tests"),
)

if os.environ.get("LLMOBS_TEST_STACKS") == "1":  # diagnosing a hang: SIGUSR2 dumps threads
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR2, all_threads=True)

if os.environ.get(WORKER_ENV) == "1":
    import llmobs_celery
    from llmobs_core import LLMObs

    LLMObs.enable(ml_app="celery-worker", service="celery-worker")
    _options = json.loads(os.environ.get("LLMOBS_TEST_CELERY_OPTIONS", "{}"))
    # LLMOBS_TEST_INSTALL_ON: install() from a worker signal instead of at import, once the
    # worker has built its task tracers (worker_process_init in a prefork child, worker_ready
    # in a solo or threads worker).
    _late = os.environ.get("LLMOBS_TEST_INSTALL_ON")
    if _late:
        from celery import signals

        def _install_late(**_: object) -> None:
            llmobs_celery.install(app, **_options)

        getattr(signals, _late).connect(_install_late, weak=False)
    else:
        llmobs_celery.install(app, **_options)
