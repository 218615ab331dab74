from rest_framework import status

from webui_backend.errors import AppError, Conflict, NotFound, RateLimited


class ModelNotFound(NotFound):
    default_detail = "Model not found."
    default_code = "model_not_found"


class CustomModelNotFound(NotFound):
    default_detail = "Custom model not found."
    default_code = "custom_model_not_found"


class ModelIdTaken(Conflict):
    default_detail = "A model with this id exists already."
    default_code = "model_id_taken"


class ConnectionNotFound(NotFound):
    default_detail = "Connection not found."
    default_code = "connection_not_found"


class NoOllamaConnection(AppError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "No Ollama connection is configured."
    default_code = "no_ollama_connection"


class UpstreamFault(AppError):
    """Something went wrong with the upstream model server (not with the request)."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The model server failed."
    default_code = "upstream_error"


class UpstreamUnavailable(UpstreamFault):
    default_detail = "The model server could not be reached."
    default_code = "upstream_unavailable"


class UpstreamUnauthorized(UpstreamFault):
    default_detail = "The model server refused this server's credentials (401)."
    default_code = "upstream_unauthorized"


class UpstreamOverloaded(UpstreamFault):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The model server is overloaded (503); try again later."
    default_code = "upstream_overloaded"


class UpstreamTimeout(UpstreamFault):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_detail = "The model server did not answer in time."
    default_code = "upstream_timeout"


class UpstreamInvalidResponse(UpstreamFault):
    default_detail = "The model server sent a malformed answer."
    default_code = "upstream_invalid_response"


class UpstreamStreamCut(UpstreamFault):
    default_detail = "The model server closed the stream before the answer was complete."
    default_code = "upstream_stream_cut"


class UpstreamAddressRefused(UpstreamFault):
    default_detail = "The model server's address may not be reached from this server."
    default_code = "upstream_address_refused"


class UpstreamTooLong(UpstreamFault):
    """The answer outgrew what one reply may hold, or the turn's time: the upstream is
    dropped, what came is kept (incomplete)."""

    default_detail = "The model server's answer is too long."
    default_code = "upstream_too_long"


class UpstreamRejected(UpstreamFault):
    """The upstream refused the request itself (a 4xx other than 401/429): the client's fault."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The model server refused the request."
    default_code = "upstream_rejected"


class UpstreamRateLimited(RateLimited):
    default_detail = "The model server is rate limiting this server; retry later."
    default_code = "upstream_rate_limited"


class ToolRoundsExceeded(AppError):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The model kept calling tools past the limit of rounds without answering."
    default_code = "tool_rounds_exceeded"


class ServerRestarting(AppError):
    status_code = 503
    default_detail = "The server restarted before the reply was complete."
    default_code = "server_restarting"
