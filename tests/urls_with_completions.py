"""The project's URLs plus a stand-in completions route, to test how API-key scopes meet it.

The completions issue builds the real one; it declares ``api_key_scope = "completions"`` and
calls ``key_allows`` and ``token_budget_check`` the same way.
"""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users.models import ApiKey
from users.permissions import key_allows
from users.selectors import token_budget_check
from users.services import usage_record
from webui_backend.urls import handler400, handler403, handler404, handler500, urlpatterns


class StandInCompletionsApi(APIView):
    api_key_scope = "completions"

    def post(self, request: Request) -> Response:
        model = request.data.get("model")
        key = request.auth if isinstance(request.auth, ApiKey) else None
        key_allows(request, route_kind="completions", model=model)
        token_budget_check(user=request.user, api_key=key)
        usage_record(
            user=request.user, api_key=key, model=model, prompt_tokens=60, completion_tokens=40
        )
        return Response({"model": model, "usage": {"total_tokens": 100}})


urlpatterns = [
    *urlpatterns,
    path("api/test-completions", StandInCompletionsApi.as_view()),
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
