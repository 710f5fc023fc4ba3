from django.urls import include, path, re_path

from . import views

api = [path("items/<int:pk>/", views.item)]

urlpatterns = [
    path("", views.health),
    path("items/<int:pk>/", views.item),
    path("async/items/<int:pk>/", views.async_item),
    path("apps/<slug:app>/chat/", views.chat),
    path("api/v1/", include(api)),
    re_path(r"^legacy/(?P<year>[0-9]{4})/$", views.legacy),
    path("health/", views.health),
    path("errors/sync/", views.sync_failure),
    path("errors/async/", views.async_failure),
    path("errors/unavailable/", views.unavailable),
    path("errors/missing/", views.missing),
    path("errors/bad-request/", views.bad_request),
    path("stream/sync/", views.stream),
    path("stream/async/", views.async_stream),
    path("stream/broken/", views.broken_stream),
    path("file/", views.download),
    path("onward/", views.call_onward),
]
