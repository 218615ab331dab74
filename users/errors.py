from webui_backend.errors import AppError, Conflict, Forbidden, Unauthorized


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
