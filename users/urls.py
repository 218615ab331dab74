from django.urls import path

from users.api import accounts, admin, auth, keys

app_name = "users"

urlpatterns = [
    path("auths/", auth.MeApi.as_view(), name="auth-me"),
    path("auths/signup", auth.SignupApi.as_view(), name="auth-signup"),
    path("auths/signin", auth.SigninApi.as_view(), name="auth-signin"),
    path("auths/refresh", auth.RefreshApi.as_view(), name="auth-refresh"),
    path("auths/signout", auth.SignoutApi.as_view(), name="auth-signout"),
    path("auths/update/password", auth.PasswordUpdateApi.as_view(), name="auth-password"),
    path("auths/admin/config", auth.AdminConfigApi.as_view(), name="auth-admin-config"),
]

urlpatterns += [
    path("users/", accounts.UserListApi.as_view(), name="user-list"),
    path("users/api_key", keys.ApiKeyCreateApi.as_view(), name="api-key-create"),
    path("users/api_keys", keys.ApiKeyListApi.as_view(), name="api-key-list"),
    path("users/api_keys/<uuid:key_id>", keys.ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
    path("users/<str:user_id>", accounts.UserDetailApi.as_view(), name="user-detail"),
    path("users/<str:user_id>/update", accounts.UserUpdateApi.as_view(), name="user-update"),
    path("users/<str:user_id>/role", accounts.UserRoleApi.as_view(), name="user-role"),
    path("admin/stats", admin.AdminStatsApi.as_view(), name="admin-stats"),
    path("admin/usage", admin.AdminUsageApi.as_view(), name="admin-usage"),
    path("admin/audit", admin.AdminAuditApi.as_view(), name="admin-audit"),
    path("admin/settings", admin.AdminSettingsApi.as_view(), name="admin-settings"),
]
