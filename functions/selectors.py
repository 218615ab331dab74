"""Reads of functions, already scoped to the acting user, and who may do what with them."""

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from functions.errors import FunctionNotFound, FunctionsRunForbidden
from functions.models import Function, FunctionSettings
from users.models import User


@dataclass(frozen=True)
class EffectiveFunctionSettings:
    users_can_edit: bool
    users_can_run: bool


def function_settings_effective(row: FunctionSettings | None = None) -> EffectiveFunctionSettings:
    """The choices in force: an admin's saved value where there is one, else the environment's."""
    if row is None:
        row = FunctionSettings.objects.filter(pk=1).first()
    edit = row.users_can_edit if row is not None else None
    run = row.users_can_run if row is not None else None
    return EffectiveFunctionSettings(
        users_can_edit=settings.FUNCTIONS_USERS_CAN_EDIT if edit is None else edit,
        users_can_run=settings.FUNCTIONS_USERS_CAN_RUN if run is None else run,
    )


def user_can_edit_functions(*, user: User) -> bool:
    return user.is_admin or function_settings_effective().users_can_edit


def user_can_run_functions(*, user: User) -> bool:
    return user.is_admin or function_settings_effective().users_can_run


def _visible_to(user: User) -> Q:
    """Admins see every function; others their own and the global ones."""
    return Q() if user.is_admin else Q(user=user) | Q(is_global=True)


def function_is_visible(*, function: Function, user: User) -> bool:
    return user.is_admin or function.user_id == user.pk or function.is_global


def function_list_for_user(*, user: User) -> QuerySet[Function]:
    return Function.objects.filter(_visible_to(user)).order_by("name", "id")


def _parse_id(function_id: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(function_id))
    except ValueError:
        raise FunctionNotFound() from None


def function_get_for_user(*, function_id: Any, user: User) -> Function:
    """A function the user may see; missing, malformed and someone else's private one are 404."""
    function = Function.objects.filter(_visible_to(user), pk=_parse_id(function_id)).first()
    if function is None:
        raise FunctionNotFound()
    return function


def function_list_usable(*, user: User, ids: list[str]) -> list[Function]:
    """The active functions among ``ids`` that ``user`` may run as tools, in the order asked.

    Raises FunctionsRunForbidden if the user may not run functions at all, FunctionNotFound for
    an id the user cannot see. Inactive functions are left out. Where two chosen functions
    share a name, the first one asked for is kept (a tool call names a function by its name).
    """
    if not user_can_run_functions(user=user):
        raise FunctionsRunForbidden()
    wanted = [_parse_id(i) for i in dict.fromkeys(ids)]
    found = {f.pk: f for f in Function.objects.filter(_visible_to(user), pk__in=wanted)}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise FunctionNotFound(f"Function not found: {missing[0]}.")
    usable: dict[str, Function] = {}
    for function_id in wanted:
        function = found[function_id]
        if function.is_active and function.name not in usable:
            usable[function.name] = function
    return list(usable.values())


def tool_of(function: Function) -> dict[str, Any]:
    """A function as one entry of an OpenAI ``tools`` list."""
    return {
        "type": "function",
        "function": {
            "name": function.name,
            "description": function.description,
            "parameters": function.parameters,
        },
    }


def tools_for_user(*, user: User, ids: list[str]) -> list[dict[str, Any]]:
    """OpenAI ``tools`` entries for the functions ``ids`` that ``user`` may use.

    The tool loop maps a tool call back to its function with ``function_list_usable`` (by
    ``name``) and runs it with ``functions.services.function_run``, which checks again.
    """
    return [tool_of(function) for function in function_list_usable(user=user, ids=ids)]
