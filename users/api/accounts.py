"""User management: list (admin), read, update, role (admin), delete (admin)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users import selectors, services
from users.models import TOKEN_BUDGET_MAX, User
from users.permissions import IsAdmin
from users.serializers import (
    NAME_MAX,
    UserDetailOutputSerializer,
    check_password_strength,
    password_field,
)
from webui_backend.pagination import PageQuerySerializer, page_of
from webui_backend.serializers import StrictCharField, StrictEmailField, StrictSerializer


class UserListApi(APIView):
    permission_classes = [IsAdmin]

    class QuerySerializer(PageQuerySerializer):
        # ``?query=`` is no filter (as Open WebUI's frontend sends it); an absent role is none.
        query = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            max_length=255,
            help_text="Part of a name or email.",
        )
        role = serializers.ChoiceField(choices=User.Role.choices, required=False)

    @extend_schema(
        operation_id="users_list",
        parameters=[QuerySerializer],
        responses={
            200: inline_serializer(
                "UserPage",
                {
                    "users": UserDetailOutputSerializer(many=True),
                    "total": serializers.IntegerField(),
                    "page": serializers.IntegerField(),
                    "page_size": serializers.IntegerField(),
                },
            )
        },
        summary="List accounts (admin): search by name or email, filter by role",
    )
    def get(self, request: Request) -> Response:
        params = self.QuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = params.validated_data
        page = page_of(
            selectors.user_list(query=query["query"], role=query.get("role", "")),
            page=query["page"],
            page_size=query["page_size"],
        )
        return Response(
            {
                "users": UserDetailOutputSerializer(page.items, many=True).data,
                "total": page.total,
                "page": page.page,
                "page_size": page.page_size,
            }
        )


class UserDetailApi(APIView):
    def get_permissions(self) -> list:
        if self.request.method == "DELETE":
            return [IsAdmin()]
        return super().get_permissions()

    @extend_schema(
        responses={200: UserDetailOutputSerializer},
        summary="One account: your own, or any for an admin (others get 404)",
    )
    def get(self, request: Request, user_id: str) -> Response:
        user = selectors.user_get_for_viewer(user_id=user_id, viewer=request.user)
        return Response(UserDetailOutputSerializer(user).data)

    @extend_schema(
        responses={200: OpenApiTypes.BOOL},
        summary="Delete an account (admin): disabled at once, its data removed in the background",
    )
    def delete(self, request: Request, user_id: str) -> Response:
        user = selectors.user_get_for_viewer(user_id=user_id, viewer=request.user)
        services.user_delete(actor=request.user, user=user)
        return Response(True)


class UserUpdateApi(APIView):
    class InputSerializer(StrictSerializer):
        name = StrictCharField(max_length=NAME_MAX, required=False)
        profile_image_url = StrictCharField(max_length=2048, required=False, allow_blank=True)
        password = password_field(required=False)
        current_password = password_field(
            required=False, help_text="Required to change your own password."
        )
        email = StrictEmailField(max_length=254, required=False, help_text="Admins only.")
        daily_token_budget = serializers.IntegerField(
            min_value=0,
            max_value=TOKEN_BUDGET_MAX,
            allow_null=True,
            required=False,
            help_text="Admins only; null: none.",
        )

        def validate_password(self, value: str) -> str:
            return check_password_strength(value, user=self.context["user"])

    @extend_schema(
        request=InputSerializer,
        responses={200: UserDetailOutputSerializer},
        summary="Update an account: name, picture, password (yours: with current_password);"
        " admins also email, budget and a password reset",
    )
    def post(self, request: Request, user_id: str) -> Response:
        user = selectors.user_get_for_viewer(user_id=user_id, viewer=request.user)
        data = self.InputSerializer(data=request.data, context={"user": user})
        data.is_valid(raise_exception=True)
        user = services.user_update(actor=request.user, user=user, changes=data.validated_data)
        return Response(UserDetailOutputSerializer(user).data)


class UserRoleApi(APIView):
    permission_classes = [IsAdmin]

    class InputSerializer(StrictSerializer):
        role = serializers.ChoiceField(choices=User.Role.choices)

    @extend_schema(
        request=InputSerializer,
        responses={200: UserDetailOutputSerializer},
        summary="Change an account's role (admin; not your own, not the last admin's)",
    )
    def post(self, request: Request, user_id: str) -> Response:
        user = selectors.user_get_for_viewer(user_id=user_id, viewer=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_role_set(actor=request.user, user=user, **data.validated_data)
        return Response(UserDetailOutputSerializer(user).data)
