from webui_backend.errors import AppError, Conflict, NotFound, PayloadTooLarge


class ChatNotFound(NotFound):
    default_detail = "Chat not found."
    default_code = "chat_not_found"


class MessageNotFound(NotFound):
    default_detail = "Message not found in this chat."
    default_code = "message_not_found"


class ShareNotFound(NotFound):
    default_detail = "This shared chat does not exist, was revoked or has expired."
    default_code = "share_not_found"


class TagNotFound(NotFound):
    default_detail = "You have no tag with this name."
    default_code = "tag_not_found"


class MessageTooLarge(PayloadTooLarge):
    default_detail = "The message is larger than this server accepts."
    default_code = "message_too_large"


class MessageIdConflict(Conflict):
    default_detail = "A different message with this id already exists in the chat."
    default_code = "message_id_conflict"


class HistoryConflict(Conflict):
    default_detail = (
        "The messages do not match the chat's history (it changed since you loaded it); "
        "reload the chat and try again."
    )
    default_code = "history_conflict"


class InvalidHistory(AppError):
    default_detail = "The messages do not form a valid tree."
    default_code = "invalid_history"


class InvalidImport(AppError):
    default_detail = (
        "This is neither a chat export of this server nor a ChatGPT conversations.json."
    )
    default_code = "invalid_import"


class FeedbackNotAllowed(AppError):
    default_detail = "Only answers (assistant messages) can be rated."
    default_code = "feedback_not_allowed"
