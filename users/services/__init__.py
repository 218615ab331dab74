"""Every write about accounts, sessions, keys, settings, usage and the audit log.

The package's modules group them by subject; import from ``users.services`` itself.
"""

from users.services.accounts import (
    USER_DELETE_TASK,
    user_data_purge,
    user_delete,
    user_role_changed,
    user_role_set,
    user_update,
)
from users.services.auth import (
    Session,
    auth_attempt_count,
    session_end,
    session_refresh,
    session_start,
    user_password_change,
    user_signin,
    user_signup,
)
from users.services.keys import (
    ApiKeyCreated,
    api_key_create,
    api_key_import,
    api_key_resolve,
    api_key_revoke,
    api_keys_check_allowed,
)
from users.services.ledger import audit_record, usage_record
from users.services.site import site_settings_cache_clear, site_settings_update

__all__ = [
    "USER_DELETE_TASK",
    "ApiKeyCreated",
    "Session",
    "api_key_create",
    "api_key_import",
    "api_key_resolve",
    "api_key_revoke",
    "api_keys_check_allowed",
    "audit_record",
    "auth_attempt_count",
    "session_end",
    "session_refresh",
    "session_start",
    "site_settings_cache_clear",
    "site_settings_update",
    "usage_record",
    "user_data_purge",
    "user_delete",
    "user_password_change",
    "user_role_changed",
    "user_role_set",
    "user_signin",
    "user_signup",
    "user_update",
]
