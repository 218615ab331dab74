from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from functions import selectors, services
from functions.models import Function
from functions.serializers import (
    FunctionOutputSerializer,
    RunOutputSerializer,
    function_name_field,
)
from users.permissions import IsAdmin
from webui_backend.serializers import StrictCharField, StrictSerializer


def content_field(**kwargs: object) -> StrictCharField:
    return StrictCharField(trim_whitespace=False, **kwargs)


class FunctionListApi(APIView):
    @extend_schema(
        responses={200: FunctionOutputSerializer(many=True)},
        summary="Functions I can see: mine and the global ones (admins: all)",
    )
    def get(self, request: Request) -> Response:
        functions = selectors.function_list_for_user(user=request.user)
        return Response(FunctionOutputSerializer(functions, many=True).data)


class FunctionCreateApi(APIView):
    class InputSerializer(StrictSerializer):
        name = function_name_field()
        type = serializers.ChoiceField(choices=Function.Type.choices, default="function")
        content = content_field()
        is_active = serializers.BooleanField(required=False, default=True)
        is_global = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: FunctionOutputSerializer},
        summary="Create a function (its source is parsed, never run)",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        function = services.function_create(user=request.user, **data.validated_data)
        return Response(FunctionOutputSerializer(function).data)


class FunctionUpdateApi(APIView):
    class InputSerializer(StrictSerializer):
        id = StrictCharField(max_length=64)
        name = function_name_field(required=False)
        type = serializers.ChoiceField(choices=Function.Type.choices, required=False)
        content = content_field(required=False)
        is_active = serializers.BooleanField(required=False)
        is_global = serializers.BooleanField(required=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: FunctionOutputSerializer},
        summary="Change a function (the fields given; a new source is parsed again)",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        function = selectors.function_get_for_user(function_id=changes.pop("id"), user=request.user)
        function = services.function_update(function=function, user=request.user, **changes)
        return Response(FunctionOutputSerializer(function).data)


class FunctionDetailApi(APIView):
    @extend_schema(responses={200: FunctionOutputSerializer}, summary="One function")
    def get(self, request: Request, function_id: str) -> Response:
        function = selectors.function_get_for_user(function_id=function_id, user=request.user)
        return Response(FunctionOutputSerializer(function).data)

    @extend_schema(responses={204: None}, summary="Delete a function")
    def delete(self, request: Request, function_id: str) -> Response:
        function = selectors.function_get_for_user(function_id=function_id, user=request.user)
        services.function_delete(function=function, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FunctionTestApi(APIView):
    class InputSerializer(StrictSerializer):
        args = serializers.DictField(required=False, default=dict)

    @extend_schema(
        request=InputSerializer,
        responses={200: RunOutputSerializer},
        summary="Run a function in the sandbox with these arguments",
        description=(
            "422 when the arguments do not match the signature; 400 with a `code` when the run "
            "fails (`function_error`, `function_timeout`, `function_resource_limit`, "
            "`function_output_too_large`, `function_result_invalid`); 429 when too many runs "
            "are going on; 503 `sandbox_unavailable` when the server cannot confine a run."
        ),
    )
    def post(self, request: Request, function_id: str) -> Response:
        function = selectors.function_get_for_user(function_id=function_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.function_run(
            function=function, args=data.validated_data["args"], user=request.user
        )
        return Response(RunOutputSerializer(run).data)


class FunctionConfigApi(APIView):
    permission_classes = [IsAdmin]

    class OutputSerializer(serializers.Serializer):
        FUNCTIONS_USERS_CAN_EDIT = serializers.BooleanField(source="users_can_edit")
        FUNCTIONS_USERS_CAN_RUN = serializers.BooleanField(source="users_can_run")

    class InputSerializer(StrictSerializer):
        FUNCTIONS_USERS_CAN_EDIT = serializers.BooleanField(required=False, source="users_can_edit")
        FUNCTIONS_USERS_CAN_RUN = serializers.BooleanField(required=False, source="users_can_run")

    @extend_schema(
        responses={200: OutputSerializer}, summary="Who may create and run functions (admin)"
    )
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(selectors.function_settings_effective()).data)

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer},
        summary="Let users (not only admins) create or run functions (admin)",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        effective = services.function_settings_update(**data.validated_data)
        return Response(self.OutputSerializer(effective).data)
