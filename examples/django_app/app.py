"""A Django project traced by llmobs, in one file: each request is a workflow span (continuing
the caller's trace), with the model call inside it as a child llm span.

Run it:   python examples/django_app/app.py runserver 8000                 (WSGI)
     or:  uvicorn --app-dir examples/django_app app:application --port 8000 (ASGI)
Then:     curl 'localhost:8000/ask?q=hello' -H 'x-session-id: s-1'  &&  llmobs traces
"""

import sys

from django.conf import settings
from django.core.asgi import get_asgi_application
from django.http import JsonResponse
from django.urls import path

from llmobs_core.decorators import llm

settings.configure(
    ROOT_URLCONF=__name__, SECRET_KEY="example", ALLOWED_HOSTS=["*"], DEBUG=True,
    INSTALLED_APPS=["llmobs_django"],
    MIDDLEWARE=["llmobs_django.middleware.LLMObsMiddleware"],
    LLMOBS={"ML_APP": "django-example", "SESSION_ID": lambda r: r.headers.get("x-session-id")},
)


@llm(model_name="echo-1", model_provider="custom")
def complete(prompt: str) -> str:
    return prompt.upper()  # call your model here


async def ask(request):
    return JsonResponse({"answer": complete(request.GET.get("q", ""))})


urlpatterns = [path("ask", ask)]
application = get_asgi_application()

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
