"""OpenAPI generation tweaks shared by every app."""

from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from rest_framework import serializers


class AutoSchema(BaseAutoSchema):
    """Names nested serializers after their view: ``SignupApi.InputSerializer`` → ``SignupRequest``.

    Every view declares its own ``InputSerializer`` (STYLE.md §3); without this they would all
    collide as one ``Input`` component.
    """

    def get_serializer_name(self, serializer: serializers.Serializer, direction: str) -> str:
        name = super().get_serializer_name(serializer, direction)
        outer, _, inner = type(serializer).__qualname__.rpartition(".")
        if outer:
            prefix = outer.split(".")[-1].removesuffix("Api")
            name = prefix + inner.removesuffix("Serializer").removeprefix("Input")
        return name
