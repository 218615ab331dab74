from django.urls import path

from functions import api

app_name = "functions"

# Fixed routes come before the one with a function id, which would otherwise take their names.
urlpatterns = [
    path("", api.FunctionListApi.as_view(), name="function-list"),
    path("create", api.FunctionCreateApi.as_view(), name="function-create"),
    path("update", api.FunctionUpdateApi.as_view(), name="function-update"),
    path("config", api.FunctionConfigApi.as_view(), name="function-config"),
    path("<str:function_id>", api.FunctionDetailApi.as_view(), name="function-detail"),
    path("<str:function_id>/test", api.FunctionTestApi.as_view(), name="function-test"),
]
