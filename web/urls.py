from django.urls import path

from web import api, views

app_name = "web"

# Pages: the same shell; the page script picks the view from the path.
urlpatterns = [
    path("", views.app_page, name="home"),
    path("auth", views.app_page, name="auth"),
    path("account", views.app_page, name="account"),
    path("c/<uuid:chat_id>", views.app_page, name="chat"),
    path("knowledge", views.app_page, name="knowledge"),
    path("knowledge/<uuid:knowledge_id>", views.app_page, name="knowledge-detail"),
    path("dashboard", views.app_page, name="dashboard"),
    path("s/<str:share_id>", views.app_page, name="share"),
]

# The page's own session routes: the refresh token lives in an HttpOnly cookie.
api_urlpatterns = [
    path("web/session/signup", api.CookieSignupApi.as_view(), name="session-signup"),
    path("web/session/signin", api.CookieSigninApi.as_view(), name="session-signin"),
    path("web/session/refresh", api.CookieRefreshApi.as_view(), name="session-refresh"),
    path("web/session/signout", api.CookieSignoutApi.as_view(), name="session-signout"),
    path("web/session/password", api.CookiePasswordApi.as_view(), name="session-password"),
]
