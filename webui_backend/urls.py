from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from web.urls import api_urlpatterns as web_api_patterns
from webui_backend.health import HealthApi, VersionApi
from webui_backend.metrics import metrics_view

api_patterns = [
    path("", include("users.urls")),
    path("chats/", include("chats.urls")),
    path("functions/", include("functions.urls")),
    path("", include("llm.urls")),
    path("", include("knowledge.urls")),
    path("", include("retrieval.urls")),
    path("", include((web_api_patterns, "web-api"))),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("api/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-schema"),
    path("api/version", VersionApi.as_view(), name="version"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="swagger-ui"),
    path("redoc", SpectacularRedocView.as_view(url_name="openapi-schema"), name="redoc"),
    path("health", HealthApi.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("web.urls")),  # the web client's pages (docs/web-client.md)
]

handler400 = "webui_backend.errors.bad_request"
handler403 = "webui_backend.errors.permission_denied"
handler404 = "webui_backend.errors.page_not_found"
handler500 = "webui_backend.errors.server_error"
