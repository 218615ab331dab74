"""API keys: create (the key is shown once), list and revoke your own."""

import datetime as dt
from uuid import UUID

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users import selectors, services
from users.models import TOKEN_BUDGET_MAX, ApiKey
from users.serializers import ApiKeyCreatedOutputSerializer, ApiKeyOutputSerializer
from webui_backend.serializers import StrictCharField, StrictSerializer


class ApiKeyCreateApi(APIView):
    class InputSerializer(StrictSerializer):
        name = StrictCharField(max_length=255)
        scope = serializers.ChoiceField(
            choices=ApiKey.Scope.choices,
            default=ApiKey.Scope.ALL,
            help_text="`all` routes, or `completions` only.",
        )
        model = StrictCharField(
            max_length=255,
            required=False,
            default="",
            allow_blank=True,
            help_text="With scope `completions`: the one model this key may use.",
        )
        expires_at = serializers.IntegerField(
            required=False,
            allow_null=True,
            default=None,
            help_text="When the key stops working (Unix seconds, in the future); null: never.",
        )
        daily_token_budget = serializers.IntegerField(
            min_value=0, max_value=TOKEN_BUDGET_MAX, required=False, allow_null=True, default=None
        )

        def validate_expires_at(self, value: int | None) -> dt.datetime | None:
            if value is None:
                return None
            try:
                moment = dt.datetime.fromtimestamp(value, tz=dt.UTC)
            except (OverflowError, OSError, ValueError):
                raise serializers.ValidationError("Not a valid Unix timestamp.") from None
            if moment <= timezone.now():
                raise serializers.ValidationError("Must be in the future.")
            return moment

        def validate(self, attrs: dict) -> dict:
            if attrs.get("model") and attrs["scope"] != ApiKey.Scope.COMPLETIONS:
                raise serializers.ValidationError(
                    {"model": ["Only a completions-only key (scope 'completions') has a model."]}
                )
            return attrs

    @extend_schema(
        request=InputSerializer,
        responses={201: ApiKeyCreatedOutputSerializer},
        summary="Create an API key; the response is the only time the key is shown",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.api_key_create(user=request.user, **data.validated_data)
        return Response(ApiKeyCreatedOutputSerializer(created).data, status=status.HTTP_201_CREATED)


class ApiKeyListApi(APIView):
    @extend_schema(
        responses={200: ApiKeyOutputSerializer(many=True)},
        summary="Your API keys that are not revoked (never the keys themselves)",
    )
    def get(self, request: Request) -> Response:
        keys = selectors.api_key_list_for_user(user=request.user)
        return Response(ApiKeyOutputSerializer(keys, many=True).data)


class ApiKeyRevokeApi(APIView):
    @extend_schema(responses={204: None}, summary="Revoke one of your API keys")
    def delete(self, request: Request, key_id: UUID) -> Response:
        key = selectors.api_key_get_for_user(key_id=key_id, user=request.user)
        services.api_key_revoke(key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)
