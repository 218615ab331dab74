"""System checks for what Django's own cannot see.

Django's deploy checks of the security, clickjacking and CSRF middlewares look for their exact
dotted paths in MIDDLEWARE, and those that depend on them (HSTS, nosniff, SSL redirect,
referrer and opener policies, X-Frame-Options DENY, secure CSRF cookie) are skipped without
them. MIDDLEWARE names our subclasses (``webui_backend.middleware``) instead, so those three
checks are silenced in settings and all of them are run again here, with MIDDLEWARE read as
Django's classes; their messages keep Django's ids under ``webui_backend.``.
"""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks.security import base, csrf
from django.test.utils import override_settings

# Ours -> Django's: the classes the middleware checks look for.
AS_DJANGO = {
    "webui_backend.middleware.SecurityMiddleware": "django.middleware.security.SecurityMiddleware",
    "webui_backend.middleware.CsrfViewMiddleware": "django.middleware.csrf.CsrfViewMiddleware",
    "webui_backend.middleware.XFrameOptionsMiddleware": (
        "django.middleware.clickjacking.XFrameOptionsMiddleware"
    ),
}

_MIDDLEWARE_CHECKS = (
    base.check_security_middleware,
    base.check_xframe_options_middleware,
    base.check_sts,
    base.check_sts_include_subdomains,
    base.check_sts_preload,
    base.check_content_type_nosniff,
    base.check_ssl_redirect,
    base.check_xframe_deny,
    base.check_referrer_policy,
    base.check_cross_origin_opener_policy,
    csrf.check_csrf_middleware,
    csrf.check_csrf_cookie_secure,
)


@register(Tags.security, deploy=True)
def middleware_security_checks(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    middleware = [AS_DJANGO.get(path, path) for path in settings.MIDDLEWARE]
    with override_settings(MIDDLEWARE=middleware):
        found = [message for check in _MIDDLEWARE_CHECKS for message in check(app_configs)]
    for message in found:
        message.id = f"webui_backend.{message.id}"
    return found
