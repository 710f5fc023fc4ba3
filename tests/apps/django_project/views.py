"""Views of the test project. The JSON ones report what they saw of their request's span, so
tests over a real server can check each request against its own trace."""

from __future__ import annotations

import asyncio
import io

import httpx
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)

from llmobs_core import LLMObs
from llmobs_core.integrations.httpx import instrument_client


def describe(request: HttpRequest) -> dict:
    span = request.llmobs
    if span.kind is None:
        return {"traced": False}
    return {
        "traced": True,
        "trace_id": f"{span.trace_id:032x}",
        "span_id": str(span.span_id),
        "parent_id": "undefined" if span.parent_id is None else str(span.parent_id),
        "ml_app": span.ml_app,
        "session_id": span.session_id,
        "active": LLMObs.current_span() is span,
    }


def item(request: HttpRequest, pk: int) -> JsonResponse:
    with LLMObs.task("load-item"):
        LLMObs.annotate(output_data=f"item {pk}")
    return JsonResponse(describe(request))


async def async_item(request: HttpRequest, pk: int) -> JsonResponse:
    await asyncio.sleep(float(request.GET.get("delay", 0)))
    with LLMObs.task("load-item"):
        LLMObs.annotate(output_data=f"item {pk}")
    return JsonResponse(describe(request))


async def chat(request: HttpRequest, app: str) -> JsonResponse:
    await asyncio.sleep(float(request.GET.get("delay", 0)))
    with LLMObs.task("answer"):
        await asyncio.sleep(float(request.GET.get("delay", 0)))
        LLMObs.annotate(output_data=request.GET.get("tag", ""))
    return JsonResponse(describe(request))


def legacy(request: HttpRequest, year: str) -> JsonResponse:
    return JsonResponse(describe(request))


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse(describe(request))


def sync_failure(request: HttpRequest) -> HttpResponse:
    raise ValueError("sync view failed")


async def async_failure(request: HttpRequest) -> HttpResponse:
    raise ValueError("async view failed")


def unavailable(request: HttpRequest) -> HttpResponse:
    return HttpResponse("down for maintenance", status=503)


def missing(request: HttpRequest) -> HttpResponse:
    raise Http404("no such item")


def bad_request(request: HttpRequest) -> HttpResponse:
    return HttpResponse("bad input", status=400)


def stream(request: HttpRequest) -> StreamingHttpResponse:
    count = int(request.GET.get("chunks", 3))

    def chunks():
        for index in range(count):
            with LLMObs.task("chunk"):
                text = f"chunk {index}\n"
            yield text

    return StreamingHttpResponse(chunks(), content_type="text/plain")


async def async_stream(request: HttpRequest) -> StreamingHttpResponse:
    count = int(request.GET.get("chunks", 3))
    delay = float(request.GET.get("delay", 0))

    async def chunks():
        for index in range(count):
            await asyncio.sleep(delay)
            with LLMObs.task("chunk"):
                text = f"chunk {index}\n"
            yield text

    return StreamingHttpResponse(chunks(), content_type="text/plain")


async def broken_stream(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks():
        yield "first\n"
        raise RuntimeError("stream broke")

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def download(request: HttpRequest) -> FileResponse:
    size = int(request.GET.get("size", 100_000))
    return FileResponse(io.BytesIO(b"x" * size), filename="data.bin")


async def call_onward(request: HttpRequest) -> JsonResponse:
    """Calls the URL in ?url= through an instrumented httpx client, inside a task span."""
    async with instrument_client(httpx.AsyncClient(timeout=10)) as client:
        with LLMObs.task("call-downstream"):
            reply = await client.get(request.GET["url"])
    return JsonResponse({"upstream": describe(request), "downstream": reply.json()})
