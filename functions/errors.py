"""Errors of the functions app.

``FunctionRunError`` is the base of everything that can go wrong when a function runs (the
test route and the completions' tool loop catch it): each subclass is one clear reason, with
its own ``code``. The run's captured output, when there was a run, rides along as ``stdout``
and ``duration_ms`` (not in the HTTP body, which keeps the one error format).
"""

from rest_framework import status

from webui_backend.errors import AppError, Conflict, Forbidden, NotFound, RateLimited


class FunctionNotFound(NotFound):
    default_detail = "Function not found."
    default_code = "function_not_found"


class FunctionNameTaken(Conflict):
    default_detail = "You already have a function with this name."
    default_code = "function_name_taken"


class FunctionSourceInvalid(AppError):
    default_detail = "The function's source is not valid."
    default_code = "function_source_invalid"


class FunctionsEditForbidden(Forbidden):
    default_detail = "Only administrators may create or change functions on this site."
    default_code = "functions_edit_forbidden"


class FunctionsRunForbidden(Forbidden):
    default_detail = "Only administrators may run functions on this site."
    default_code = "functions_run_forbidden"


class FunctionReadOnly(Forbidden):
    default_detail = "Only the function's owner or an administrator may change it."
    default_code = "function_read_only"


class GlobalFunctionAdminOnly(Forbidden):
    default_detail = "Only administrators may make a function global."
    default_code = "global_function_admin_only"


class FunctionRunError(AppError):
    """A run that produced no result. ``stdout`` holds what the code printed, if it ran."""

    default_detail = "The function could not be run."
    default_code = "function_run_failed"

    def __init__(
        self, detail: str | None = None, *, stdout: str = "", duration_ms: float = 0.0
    ) -> None:
        super().__init__(detail)
        self.stdout = stdout
        self.duration_ms = duration_ms


class FunctionArgsInvalid(FunctionRunError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The arguments do not match the function's parameters."
    default_code = "function_args_invalid"


class FunctionRaised(FunctionRunError):
    default_detail = "The function raised an exception."
    default_code = "function_error"


class FunctionTimedOut(FunctionRunError):
    default_detail = "The function did not finish in time and was stopped."
    default_code = "function_timeout"


class FunctionResourceLimit(FunctionRunError):
    default_detail = "The function exceeded a resource limit and was stopped."
    default_code = "function_resource_limit"


class FunctionOutputTooLarge(FunctionRunError):
    default_detail = "The function printed more output than allowed and was stopped."
    default_code = "function_output_too_large"


class FunctionResultInvalid(FunctionRunError):
    default_detail = "The function's result is not a JSON value."
    default_code = "function_result_invalid"


class FunctionBusy(RateLimited, FunctionRunError):
    default_detail = "Too many functions are running; try again shortly."
    default_code = "function_busy"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1) -> None:
        # Not RateLimited.__init__: its super() call would land in FunctionRunError's.
        AppError.__init__(self, detail)
        self.retry_after = max(1, int(retry_after))
        self.headers: dict[str, str] = {}
        self.stdout = ""
        self.duration_ms = 0.0


class SandboxUnavailable(FunctionRunError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Functions cannot run on this server: the sandbox is not available."
    default_code = "sandbox_unavailable"
