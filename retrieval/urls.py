from django.urls import path

from retrieval import api

app_name = "retrieval"

urlpatterns = [
    path("retrieval/query", api.RetrievalQueryApi.as_view(), name="query"),
    path("retrieval/web", api.WebSearchApi.as_view(), name="web"),
    path("retrieval/embedding", api.EmbeddingConfigApi.as_view(), name="embedding"),
]
