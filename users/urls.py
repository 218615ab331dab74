from django.urls import path

from users import api

app_name = "users"

urlpatterns = [
    path("auths/", api.MeApi.as_view(), name="auth-me"),
    path("auths/signup", api.SignupApi.as_view(), name="auth-signup"),
    path("auths/signin", api.SigninApi.as_view(), name="auth-signin"),
    path("auths/refresh", api.RefreshApi.as_view(), name="auth-refresh"),
    path("auths/signout", api.SignoutApi.as_view(), name="auth-signout"),
    path("auths/update/password", api.PasswordUpdateApi.as_view(), name="auth-password"),
    path("auths/admin/config", api.AdminConfigApi.as_view(), name="auth-admin-config"),
]
