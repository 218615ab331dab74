"""Reads of connections and custom models, scoped to the acting user."""

from django.db.models import Q, QuerySet

from llm.errors import ConnectionNotFound, CustomModelNotFound
from llm.models import Connection, CustomModel
from users.models import User


def custom_models_visible_to(*, user: User) -> QuerySet[CustomModel]:
    """Public custom models and the user's own (an admin sees every one)."""
    models = CustomModel.objects.all()
    if user.role != User.Role.ADMIN:
        models = models.filter(Q(is_public=True) | Q(owner=user))
    return models


def custom_model_get_visible(*, user: User, model_id: str) -> CustomModel | None:
    """The custom model named ``model_id`` if the user may use it, else None."""
    return custom_models_visible_to(user=user).filter(model_id=model_id).first()


def custom_model_get_editable(*, user: User, model_id: str) -> CustomModel:
    """The user's own custom model (any, for an admin); others are 404."""
    models = CustomModel.objects.filter(model_id=model_id)
    if user.role != User.Role.ADMIN:
        models = models.filter(owner=user)
    model = models.first()
    if model is None:
        raise CustomModelNotFound()
    return model


def connection_get(*, connection_id: object) -> Connection:
    try:
        connection = Connection.objects.filter(pk=connection_id).first()
    except Exception:  # a malformed UUID
        connection = None
    if connection is None:
        raise ConnectionNotFound()
    return connection
