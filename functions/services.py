"""Every write about functions, and running one: always in the sandbox, after every check."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from functions import sandbox
from functions.errors import (
    FunctionArgsInvalid,
    FunctionBusy,
    FunctionNameTaken,
    FunctionNotFound,
    FunctionReadOnly,
    FunctionsEditForbidden,
    FunctionSourceInvalid,
    FunctionsRunForbidden,
    GlobalFunctionAdminOnly,
)
from functions.introspect import arg_errors, function_spec
from functions.models import Function, FunctionSettings
from functions.sandbox import RunResult
from functions.selectors import (
    EffectiveFunctionSettings,
    function_is_visible,
    function_settings_effective,
    user_can_edit_functions,
    user_can_run_functions,
)
from users.models import User

__all__ = [
    "RunResult",
    "function_create",
    "function_delete",
    "function_import_inactive",
    "function_run",
    "function_update",
]


def _check_source(*, content: str, name: str) -> dict[str, Any]:
    if len(content.encode()) > settings.FUNCTIONS_MAX_SOURCE_BYTES:
        raise FunctionSourceInvalid(
            f"The source is larger than {settings.FUNCTIONS_MAX_SOURCE_BYTES} bytes."
        )
    spec = function_spec(source=content, name=name)
    return {"description": spec.description, "parameters": spec.parameters}


def _check_may_edit(*, user: User, is_global: bool) -> None:
    if not user_can_edit_functions(user=user):
        raise FunctionsEditForbidden()
    if is_global and not user.is_admin:
        raise GlobalFunctionAdminOnly()


def _check_may_change(*, function: Function, user: User) -> None:
    """Owners change their own functions; a global one (everyone runs it) only admins."""
    if not user.is_admin and (function.user_id != user.pk or function.is_global):
        raise FunctionReadOnly()


def function_create(
    *,
    user: User,
    name: str,
    content: str,
    type: str = Function.Type.FUNCTION,  # the contract's field name
    is_active: bool = True,
    is_global: bool = False,
) -> Function:
    """Store a new function after parsing (never running) its source. 409 on a taken name."""
    _check_may_edit(user=user, is_global=is_global)
    derived = _check_source(content=content, name=name)
    try:
        with transaction.atomic():
            return Function.objects.create(
                user=user,
                name=name,
                type=type,
                content=content,
                is_active=is_active,
                is_global=is_global,
                **derived,
            )
    except IntegrityError:
        raise FunctionNameTaken() from None


def function_update(*, function: Function, user: User, **changes: Any) -> Function:
    """Change a function; the source is parsed again when it or the name changes."""
    _check_may_edit(user=user, is_global=bool(changes.get("is_global")))
    _check_may_change(function=function, user=user)
    for field, value in changes.items():
        setattr(function, field, value)
    # Activating checks the source too: an imported one (Open WebUI's plugin code) must be
    # rewritten as one function first.
    if "content" in changes or "name" in changes or changes.get("is_active"):
        for field, value in _check_source(content=function.content, name=function.name).items():
            setattr(function, field, value)
    function.updated_at = timezone.now()
    try:
        with transaction.atomic():
            function.save()
    except IntegrityError:
        raise FunctionNameTaken() from None
    return function


def function_import_inactive(
    *, user: User, name: str, content: str, description: str
) -> tuple[Function, bool]:
    """Keep another server's plugin source (Open WebUI's functions and tools) for review, inactive.

    The source is stored as text and never parsed or run: it becomes usable only once an
    admin rewrites it as one function and activates it (``function_update`` checks it then).
    Returns the function and whether it is new (the same name again: the stored one).
    """
    if len(content.encode()) > settings.FUNCTIONS_MAX_SOURCE_BYTES:
        raise FunctionSourceInvalid(
            f"The source is larger than {settings.FUNCTIONS_MAX_SOURCE_BYTES} bytes."
        )
    existing = Function.objects.filter(user=user, name=name).first()
    if existing is not None:
        return existing, False
    function = Function.objects.create(
        user=user,
        name=name,
        content=content,
        description=description,
        parameters={"type": "object", "properties": {}},
        is_active=False,
    )
    return function, True


def function_delete(*, function: Function, user: User) -> None:
    """Delete a function (its owner's or, for admins, any)."""
    _check_may_edit(user=user, is_global=False)
    _check_may_change(function=function, user=user)
    function.delete()


@transaction.atomic
def function_settings_update(
    *, users_can_edit: bool | None = None, users_can_run: bool | None = None
) -> EffectiveFunctionSettings:
    """Save the given choices (``None`` leaves one as it is) and return those in force."""
    row, _ = FunctionSettings.objects.select_for_update().get_or_create(pk=1)
    if users_can_edit is not None:
        row.users_can_edit = users_can_edit
    if users_can_run is not None:
        row.users_can_run = users_can_run
    row.save()
    return function_settings_effective(row)


# --- Running ---------------------------------------------------------------------------------

_semaphores: dict[int, threading.BoundedSemaphore] = {}
_semaphores_lock = threading.Lock()


def _process_slots() -> threading.BoundedSemaphore:
    size = settings.FUNCTIONS_MAX_CONCURRENT_RUNS
    with _semaphores_lock:
        return _semaphores.setdefault(size, threading.BoundedSemaphore(size))


@contextmanager
def _run_slot(*, user: User) -> Iterator[None]:
    """Hold one of the user's run slots (shared cache) and one of this process's (semaphore).

    Each is waited for up to FUNCTIONS_RUN_QUEUE_TIMEOUT in total, then FunctionBusy (429). The
    user's counter expires on its own should a process die holding a slot.
    """
    deadline = time.monotonic() + settings.FUNCTIONS_RUN_QUEUE_TIMEOUT
    key = f"functions:running:{user.pk}"
    limit = settings.FUNCTIONS_MAX_RUNS_PER_USER
    while True:
        cache.add(key, 0, timeout=settings.FUNCTIONS_RUN_TIMEOUT + 60)
        try:
            if cache.incr(key) <= limit:
                break
            cache.decr(key)
        except ValueError:  # expired between add and incr
            continue
        if time.monotonic() >= deadline:
            raise FunctionBusy(f"You already have {limit} functions running; try again shortly.")
        time.sleep(0.05)
    try:
        slots = _process_slots()
        if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise FunctionBusy()
        try:
            yield
        finally:
            slots.release()
    finally:
        with suppress(ValueError):  # expired meanwhile
            cache.decr(key)


def function_run(*, function: Function, args: dict, user: User) -> RunResult:
    """Run ``function(**args)`` for ``user`` in a new sandbox and return its JSON result.

    Checks, every time: the user may run functions and may see this one; the arguments match
    the stored schema (422). Then it waits briefly for a slot (429 past it) and blocks for at
    most FUNCTIONS_RUN_TIMEOUT seconds. Every failure is a FunctionRunError subclass, including
    SandboxUnavailable (503) when the host cannot confine the run: nothing ever runs outside.
    """
    if not function_is_visible(function=function, user=user):
        raise FunctionNotFound()
    if not user_can_run_functions(user=user):
        raise FunctionsRunForbidden()
    if not isinstance(args, dict):
        raise FunctionArgsInvalid("The arguments must be a JSON object.")
    problems = arg_errors(function.parameters, args)
    if problems:
        raise FunctionArgsInvalid(
            "The arguments do not match the function's parameters: " + "; ".join(problems[:10])
        )
    host = sandbox.availability()
    with _run_slot(user=user):
        return sandbox.execute(
            host=host,
            source=function.content,
            name=function.name,
            args=args,
            limits=sandbox.Limits.from_settings(),
        )
