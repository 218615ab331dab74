"""The admin dashboard's endpoints: counts, usage, the audit log and the site settings."""

import datetime as dt

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users import selectors, services
from users.models import AuditLog, User
from users.permissions import IsAdmin
from users.policy import RateLimitPolicy
from users.selectors import USAGE_GROUPS
from users.serializers import AuditLogOutputSerializer, RateLimitPolicySerializer
from webui_backend.dashboard import counts_collect
from webui_backend.pagination import PageQuerySerializer, page_of
from webui_backend.serializers import StrictSerializer

USAGE_RANGE_MAX_DAYS = 366


class AdminStatsApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        responses={
            200: inline_serializer(
                "AdminStats",
                {
                    "counts": serializers.DictField(
                        help_text="Each app's figures: `users` by role (and `total`); `chats`,"
                        " `messages`, `files`, `knowledge` as those apps register them."
                    )
                },
            )
        },
        summary="Counts for the dashboard (admin)",
    )
    def get(self, request: Request) -> Response:
        return Response({"counts": counts_collect()})


class AdminUsageApi(APIView):
    permission_classes = [IsAdmin]

    class QuerySerializer(serializers.Serializer):
        start = serializers.DateField(required=False, help_text="First day (UTC), inclusive.")
        end = serializers.DateField(required=False, help_text="Last day (UTC), inclusive.")
        group_by = serializers.ChoiceField(choices=sorted(USAGE_GROUPS), default="day")
        model = serializers.CharField(
            required=False, max_length=255, help_text="Only this model's usage (as named)."
        )

        def validate(self, attrs: dict) -> dict:
            today = timezone.now().date()
            attrs.setdefault("end", today)
            attrs.setdefault("start", attrs["end"] - dt.timedelta(days=29))
            if attrs["start"] > attrs["end"]:
                raise serializers.ValidationError({"start": ["Must not be after end."]})
            if (attrs["end"] - attrs["start"]).days >= USAGE_RANGE_MAX_DAYS:
                raise serializers.ValidationError(
                    {"end": [f"The range may span at most {USAGE_RANGE_MAX_DAYS} days."]}
                )
            return attrs

    @extend_schema(
        parameters=[QuerySerializer],
        responses={
            200: inline_serializer(
                "AdminUsage",
                {
                    "start": serializers.DateField(),
                    "end": serializers.DateField(),
                    "group_by": serializers.CharField(),
                    "rows": serializers.ListField(child=serializers.DictField()),
                    "totals": serializers.DictField(child=serializers.IntegerField()),
                },
            )
        },
        summary="Completion tokens per day, model or user over a date range (admin)",
    )
    def get(self, request: Request) -> Response:
        params = self.QuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = params.validated_data
        rows = selectors.usage_summary(**query)
        totals = {
            name: sum(row[name] for row in rows)
            for name in ("requests", "prompt_tokens", "completion_tokens", "total_tokens")
        }
        return Response(
            {
                "start": query["start"].isoformat(),
                "end": query["end"].isoformat(),
                "group_by": query["group_by"],
                "rows": rows,
                "totals": totals,
            }
        )


class AdminAuditApi(APIView):
    permission_classes = [IsAdmin]

    class QuerySerializer(PageQuerySerializer):
        action = serializers.ChoiceField(choices=AuditLog.Action.choices, required=False)
        actor_id = serializers.UUIDField(required=False)
        target_type = serializers.CharField(required=False, max_length=64)
        target_id = serializers.CharField(required=False, max_length=255)

    @extend_schema(
        parameters=[QuerySerializer],
        responses={
            200: inline_serializer(
                "AuditPage",
                {
                    "entries": AuditLogOutputSerializer(many=True),
                    "total": serializers.IntegerField(),
                    "page": serializers.IntegerField(),
                    "page_size": serializers.IntegerField(),
                },
            )
        },
        summary="The audit log of admin actions, newest first (admin)",
    )
    def get(self, request: Request) -> Response:
        params = self.QuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = dict(params.validated_data)
        page_number, page_size = query.pop("page"), query.pop("page_size")
        page = page_of(selectors.audit_log_list(**query), page=page_number, page_size=page_size)
        return Response(
            {
                "entries": AuditLogOutputSerializer(page.items, many=True).data,
                "total": page.total,
                "page": page.page,
                "page_size": page.page_size,
            }
        )


class SiteSettingsOutputSerializer(serializers.Serializer):
    ENABLE_SIGNUP = serializers.BooleanField(source="enable_signup")
    DEFAULT_USER_ROLE = serializers.CharField(source="default_user_role")
    ENABLE_API_KEYS = serializers.BooleanField(source="enable_api_keys")
    API_KEY_ROLES = serializers.ListField(child=serializers.CharField(), source="api_key_roles")
    RATE_LIMIT = RateLimitPolicySerializer(source="rate_limit")


class AdminSettingsApi(APIView):
    permission_classes = [IsAdmin]

    class InputSerializer(StrictSerializer):
        ENABLE_SIGNUP = serializers.BooleanField(required=False, source="enable_signup")
        DEFAULT_USER_ROLE = serializers.ChoiceField(
            choices=[User.Role.USER, User.Role.PENDING], required=False, source="default_user_role"
        )
        ENABLE_API_KEYS = serializers.BooleanField(required=False, source="enable_api_keys")
        API_KEY_ROLES = serializers.ListField(
            child=serializers.ChoiceField(choices=User.Role.choices),
            required=False,
            source="api_key_roles",
            help_text="Roles whose accounts may create and use API keys.",
        )
        RATE_LIMIT = RateLimitPolicySerializer(required=False, source="rate_limit")

    @extend_schema(responses={200: SiteSettingsOutputSerializer}, summary="Site settings (admin)")
    def get(self, request: Request) -> Response:
        return Response(SiteSettingsOutputSerializer(selectors.site_settings_effective()).data)

    @extend_schema(
        request=InputSerializer,
        responses={200: SiteSettingsOutputSerializer},
        summary="Change site settings (admin); in force on every process's next request",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "rate_limit" in changes:
            changes["rate_limit"] = RateLimitPolicy.from_dict(changes["rate_limit"])
        effective = services.site_settings_update(actor=request.user, **changes)
        return Response(SiteSettingsOutputSerializer(effective).data)
