"""A Celery app whose task calls its model through the genuine openai client. Run under
`llmobs-run celery -A tests.apps.llm_worker worker`: the task span (llmobs_celery) has the
auto-instrumented llm span inside, in the prefork child that ran it."""

from __future__ import annotations

import os

import openai
from celery import Celery

import llmobs_celery

app = Celery("llm_worker", broker=os.environ.get("LLMOBS_TEST_BROKER", "memory://"),
             set_as_current=False)
app.conf.update(task_default_queue=os.environ.get("LLMOBS_TEST_QUEUE", "llm-worker"),
                broker_connection_retry_on_startup=True, worker_prefetch_multiplier=1)
llmobs_celery.install(app)


@app.task(name="ask")
def ask(question: str) -> str:
    completion = openai.OpenAI(max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    return completion.choices[0].message.content or ""
