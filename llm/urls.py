from django.urls import path

from llm import api
from llm.completions import chat_completion

app_name = "llm"

urlpatterns = [
    path("models/", api.ModelListApi.as_view(), name="model-list"),
    path("models/create", api.CustomModelCreateApi.as_view(), name="model-create"),
    path("models/pull", api.model_pull, name="model-pull"),
    path("models/<path:model_id>/update", api.CustomModelUpdateApi.as_view(), name="model-update"),
    path("models/<path:model_id>", api.CustomModelDetailApi.as_view(), name="model-detail"),
    path("connections/", api.ConnectionListApi.as_view(), name="connection-list"),
    path(
        "connections/<str:connection_id>/update",
        api.ConnectionUpdateApi.as_view(),
        name="connection-update",
    ),
    path(
        "connections/<str:connection_id>",
        api.ConnectionDetailApi.as_view(),
        name="connection-detail",
    ),
    path("openai/v1/models", api.OpenAIModelListApi.as_view(), name="openai-model-list"),
    path("openai/v1/chat/completions", chat_completion, name="openai-completion"),
    path("v1/chat/completions", chat_completion, name="fastgpt-completion"),
    path("chat/completions", chat_completion, name="webui-completion"),
]
