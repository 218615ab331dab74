"""The web client's session routes: the same sign-up, sign-in, refresh, sign-out and password
change as /api/auths/, but the refresh token travels only in an HttpOnly, SameSite=Strict
cookie that script cannot read, and every route checks Django's CSRF token (the csrftoken
cookie echoed in X-CSRFToken) and the request's Origin, since a cookie is sent by the browser
on its own. The access token is answered in the body and kept in the page's memory only."""

import contextlib

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import CSRFCheck
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken

from users import services
from users.api.auth import PasswordUpdateApi, SigninApi, SignupApi
from users.errors import InvalidToken
from users.models import User
from users.serializers import UserOutputSerializer
from webui_backend.errors import Forbidden

COOKIE = "webui_refresh"
COOKIE_PATH = "/api/web/session/"


class CsrfFailed(Forbidden):
    default_detail = "CSRF check failed: reload the page."
    default_code = "csrf_failed"


def csrf_enforce(request: Request) -> None:
    """Django's CSRF check (token and Origin) on a DRF view, which is exempt by default."""
    check = CSRFCheck(lambda _request: None)
    check.process_request(request._request)
    reason = check.process_view(request._request, None, (), {})
    if reason is not None:
        raise CsrfFailed()


def cookie_set(response: Response, request: Request, refresh_token: str) -> None:
    response.set_cookie(
        COOKIE,
        refresh_token,
        max_age=int(settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"].total_seconds()),
        path=COOKIE_PATH,
        secure=request.is_secure() or settings.HTTPS_ONLY,
        httponly=True,
        samesite="Strict",
    )


def cookie_clear(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, samesite="Strict")


def session_to_cookie(request: Request, response: Response) -> Response:
    """Move the refresh token of a session answer into the cookie."""
    if response.status_code == status.HTTP_200_OK and isinstance(response.data, dict):
        refresh_token = response.data.pop("refresh_token", None)
        if refresh_token:
            cookie_set(response, request, refresh_token)
    return response


class WebSessionOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    token_type = serializers.CharField()
    expires_at = serializers.IntegerField()
    user = UserOutputSerializer()


class CsrfCheckedMixin:
    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        csrf_enforce(request)
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


class CookieSignupApi(CsrfCheckedMixin, SignupApi):
    @extend_schema(
        request=SignupApi.InputSerializer,
        responses={200: WebSessionOutputSerializer},
        summary="Web client: sign up; the refresh token is set as an HttpOnly cookie",
    )
    def post(self, request: Request) -> Response:
        return session_to_cookie(request, super().post(request))


class CookieSigninApi(CsrfCheckedMixin, SigninApi):
    @extend_schema(
        request=SigninApi.InputSerializer,
        responses={200: WebSessionOutputSerializer},
        summary="Web client: sign in; the refresh token is set as an HttpOnly cookie",
    )
    def post(self, request: Request) -> Response:
        return session_to_cookie(request, super().post(request))


class CookieRefreshApi(CsrfCheckedMixin, APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=None,
        responses={200: WebSessionOutputSerializer, 204: None},
        summary="Web client: trade the refresh cookie for an access token (the cookie rotates)",
    )
    def post(self, request: Request) -> Response:
        refresh_token = request.COOKIES.get(COOKIE, "")
        if not refresh_token:
            # Not signed in is the normal state of a first visit, not an error.
            return Response(status=status.HTTP_204_NO_CONTENT)
        # A spent cookie is not cleared here: another tab may have set a fresh one meanwhile.
        session = services.session_refresh(refresh_token=refresh_token)
        response = Response(
            WebSessionOutputSerializer(session).data | {"refresh_token": session.refresh_token}
        )
        return session_to_cookie(request, response)


class CookieSignoutApi(CsrfCheckedMixin, APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=None,
        responses={204: None},
        summary="Web client: sign out (revoke the refresh cookie and clear it)",
    )
    def post(self, request: Request) -> Response:
        refresh_token = request.COOKIES.get(COOKIE, "")
        if refresh_token:
            # The cookie is HttpOnly, SameSite=Strict and CSRF-checked: whoever sends it is the
            # browser it was set in, so the session it names is the one that ends. A spent or
            # forged cookie: clearing it is all there is to do.
            with contextlib.suppress(InvalidToken, TokenError, User.DoesNotExist):
                owner = User.objects.get(pk=RefreshToken(refresh_token)[jwt_settings.USER_ID_CLAIM])
                services.session_end(user=owner, refresh_token=refresh_token)
        response = Response(status=status.HTTP_204_NO_CONTENT)
        cookie_clear(response)
        return response


class CookiePasswordApi(CsrfCheckedMixin, PasswordUpdateApi):
    @extend_schema(
        request=PasswordUpdateApi.InputSerializer,
        responses={
            200: inline_serializer("WebPasswordSession", {"token": serializers.CharField()})
        },
        summary="Web client: change my password; the new refresh token replaces the cookie",
    )
    def post(self, request: Request) -> Response:
        return session_to_cookie(request, super().post(request))
