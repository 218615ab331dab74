"""Sign-up, sign-in, sessions, passwords and the sign-up settings."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users import services
from users.authentication import JWTAuthentication
from users.models import User
from users.permissions import IsAdmin, IsSignedIn
from users.selectors import site_settings_effective
from users.serializers import (
    NAME_MAX,
    SessionOutputSerializer,
    UserOutputSerializer,
    check_password_strength,
    password_field,
)
from webui_backend import ratelimit
from webui_backend.ratelimit import client_ip
from webui_backend.serializers import StrictCharField, StrictEmailField, StrictSerializer


class SignupApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(StrictSerializer):
        name = StrictCharField(max_length=NAME_MAX)
        email = StrictEmailField(max_length=254)
        password = password_field()
        profile_image_url = StrictCharField(max_length=2048, required=False, allow_blank=True)

        def validate(self, attrs: dict) -> dict:
            candidate = User(email=attrs["email"], name=attrs["name"])
            try:
                check_password_strength(attrs["password"], user=candidate)
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"password": exc.detail}) from None
            return attrs

    @extend_schema(
        request=InputSerializer,
        responses={200: SessionOutputSerializer},
        summary="Create an account (the first one becomes admin) and sign in",
    )
    def post(self, request: Request) -> Response:
        window = services.auth_attempt_count(email=None, client_ip=client_ip(request))
        ratelimit.attach(request, window)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.user_signup(**data.validated_data)
        return Response(SessionOutputSerializer(session).data)


class SigninApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(StrictSerializer):
        email = StrictEmailField(max_length=254)
        password = password_field()

    @extend_schema(
        request=InputSerializer,
        responses={200: SessionOutputSerializer},
        summary="Sign in with email and password",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        email = request.data.get("email") if isinstance(request.data, dict) else None
        window = services.auth_attempt_count(
            email=email if isinstance(email, str) else None, client_ip=client_ip(request)
        )
        ratelimit.attach(request, window)
        data.is_valid(raise_exception=True)
        session = services.user_signin(**data.validated_data)
        return Response(SessionOutputSerializer(session).data)


class MeApi(APIView):
    permission_classes = [IsSignedIn]  # a pending account may see that it is pending

    @extend_schema(responses={200: UserOutputSerializer}, summary="The signed-in user")
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)


class RefreshTokenInputSerializer(StrictSerializer):
    refresh_token = StrictCharField(max_length=4096)


class RefreshApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    InputSerializer = RefreshTokenInputSerializer

    @extend_schema(
        request=InputSerializer,
        responses={200: SessionOutputSerializer},
        summary="Trade a refresh token for a new token pair (the old one is spent)",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.session_refresh(**data.validated_data)
        return Response(SessionOutputSerializer(session).data)


class SignoutApi(APIView):
    """Signed in with the account's own access token (a JWT): a refresh token of another
    account is left alone (still 204, so the answer tells nothing about the token)."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsSignedIn]
    InputSerializer = RefreshTokenInputSerializer

    @extend_schema(
        request=InputSerializer,
        responses={204: None},
        summary="Sign out: revoke my refresh token",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.session_end(user=request.user, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordUpdateApi(APIView):
    class InputSerializer(StrictSerializer):
        password = password_field()
        new_password = password_field()

        def validate_new_password(self, value: str) -> str:
            return check_password_strength(value, user=self.context["user"])

    @extend_schema(
        request=InputSerializer,
        responses={200: SessionOutputSerializer},
        summary="Change my password; every older token stops working",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data, context={"user": request.user})
        data.is_valid(raise_exception=True)
        session = services.user_password_change(
            user=request.user,
            current_password=data.validated_data["password"],
            new_password=data.validated_data["new_password"],
        )
        return Response(SessionOutputSerializer(session).data)


class AdminConfigApi(APIView):
    permission_classes = [IsAdmin]

    class OutputSerializer(serializers.Serializer):
        ENABLE_SIGNUP = serializers.BooleanField(source="enable_signup")
        DEFAULT_USER_ROLE = serializers.CharField(source="default_user_role")

    class InputSerializer(StrictSerializer):
        ENABLE_SIGNUP = serializers.BooleanField(required=False, source="enable_signup")
        DEFAULT_USER_ROLE = serializers.ChoiceField(
            choices=[User.Role.USER, User.Role.PENDING], required=False, source="default_user_role"
        )

    @extend_schema(responses={200: OutputSerializer}, summary="Site settings (admin)")
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(site_settings_effective()).data)

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer},
        summary="Change site settings (admin)",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        effective = services.site_settings_update(actor=request.user, **data.validated_data)
        return Response(self.OutputSerializer(effective).data)
