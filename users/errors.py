from webui_backend.errors import AppError, Conflict, Forbidden, NotFound, RateLimited, Unauthorized


class EmailTaken(Conflict):
    default_detail = "An account with this email already exists."
    default_code = "email_taken"


class SignupDisabled(Forbidden):
    default_detail = "Sign-up is disabled on this site; ask an administrator for an account."
    default_code = "signup_disabled"


class InvalidCredentials(Unauthorized):
    default_detail = "The email or password is incorrect."
    default_code = "invalid_credentials"


class InvalidToken(Unauthorized):
    default_detail = "The token is invalid or expired."
    default_code = "token_not_valid"


class WrongPassword(AppError):
    default_detail = "The current password is incorrect."
    default_code = "wrong_password"


class UserNotFound(NotFound):
    default_detail = "User not found."
    default_code = "user_not_found"


class OwnRoleChange(Forbidden):
    default_detail = "You cannot change your own role; ask another administrator."
    default_code = "own_role_change"


class OwnAccountDeletion(Forbidden):
    default_detail = "You cannot delete your own account; ask another administrator."
    default_code = "own_account_deletion"


class LastAdmin(Conflict):
    default_detail = "This is the last administrator; promote another account first."
    default_code = "last_admin"


class AdminOnlyField(Forbidden):
    default_detail = "Only an administrator may change this field."
    default_code = "admin_only"


class ApiKeyNotFound(NotFound):
    default_detail = "API key not found."
    default_code = "api_key_not_found"


class ApiKeyInvalid(Unauthorized):
    default_detail = "Invalid API key."
    default_code = "api_key_invalid"


class ApiKeyRevoked(Unauthorized):
    default_detail = "This API key has been revoked."
    default_code = "api_key_revoked"


class ApiKeyExpired(Unauthorized):
    default_detail = "This API key has expired."
    default_code = "api_key_expired"


class ApiKeysDisabled(Forbidden):
    default_detail = "API keys are disabled on this site."
    default_code = "api_keys_disabled"


class ApiKeyScope(Forbidden):
    default_detail = "This API key may only be used for chat completions."
    default_code = "api_key_scope"


class TokenBudgetExceeded(RateLimited):
    default_detail = "The daily token budget is used up; it renews at midnight UTC."
    default_code = "token_budget_exceeded"
