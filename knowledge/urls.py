from django.urls import path

from knowledge import api

app_name = "knowledge"

urlpatterns = [
    path("files/", api.FileListApi.as_view(), name="file-list"),
    path("files/<str:file_id>", api.FileDetailApi.as_view(), name="file-detail"),
    path("files/<str:file_id>/content", api.FileContentApi.as_view(), name="file-content"),
    path("files/<str:file_id>/job", api.FileJobApi.as_view(), name="file-job"),
    path("files/<str:file_id>/job/cancel", api.FileJobCancelApi.as_view(), name="file-job-cancel"),
    path("knowledge/", api.KnowledgeListApi.as_view(), name="knowledge-list"),
    path("knowledge/create", api.KnowledgeCreateApi.as_view(), name="knowledge-create"),
    path("knowledge/<str:knowledge_id>", api.KnowledgeDetailApi.as_view(), name="knowledge-detail"),
    path(
        "knowledge/<str:knowledge_id>/update",
        api.KnowledgeUpdateApi.as_view(),
        name="knowledge-update",
    ),
    path(
        "knowledge/<str:knowledge_id>/delete",
        api.KnowledgeDeleteApi.as_view(),
        name="knowledge-delete",
    ),
    path(
        "knowledge/<str:knowledge_id>/file/add",
        api.KnowledgeFileAddApi.as_view(),
        name="knowledge-file-add",
    ),
    path(
        "knowledge/<str:knowledge_id>/files/batch/add",
        api.KnowledgeFilesBatchAddApi.as_view(),
        name="knowledge-files-batch-add",
    ),
    path(
        "knowledge/<str:knowledge_id>/file/remove",
        api.KnowledgeFileRemoveApi.as_view(),
        name="knowledge-file-remove",
    ),
    path(
        "knowledge/<str:knowledge_id>/reindex",
        api.KnowledgeReindexApi.as_view(),
        name="knowledge-reindex",
    ),
    path("retrieval/process", api.ProcessApi.as_view(), name="retrieval-process"),
]
