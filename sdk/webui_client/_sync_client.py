"""The blocking clients over ``httpx.Client``.

GENERATED from ``_async_client.py`` by ``sdk/tools/unasync.py``: do not edit by hand.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import IO, Any, TypeVar

import httpx

from webui_client._common import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_DELAY,
    DEFAULT_TIMEOUT,
    DONE,
    Call,
    Options,
    ResumeState,
    SSEDecoder,
    StreamState,
    Upload,
    as_messages,
    backoff,
    body,
    build_request,
    chat_uuid,
    is_uuid,
    iso_date,
    log_attempt,
    options_from,
    query,
    raise_for_status_ours,
    retry_wait,
    saved_reply,
    seg,
    transport_error,
)
from webui_client.errors import APIConnectionError, APITimeoutError, WebUIError, raise_for_status
from webui_client.types import (
    Chat,
    ChatCompletionChunk,
    ChatMessageParam,
    Collection,
    Completion,
    File,
    Job,
    Message,
    MessagePage,
    SearchResults,
    Share,
    UsageReport,
)

Messages = str | Sequence[ChatMessageParam | dict[str, Any]]
FileInput = str | os.PathLike[str] | bytes | IO[bytes]
_Client = TypeVar("_Client", bound="WebUIClient")


class WebUIClient:
    """The base client: options, the connection pool, retries, logging, errors.

    ``api_key`` is an ``sk-`` key or a JWT (``WEBUI_API_KEY`` when not given); ``base_url``
    defaults to ``WEBUI_BASE_URL``, else ``http://127.0.0.1:8080``. ``http_client`` brings
    your own ``httpx`` client (its pool, proxies, TLS); this client's base URL, key and
    timeout are still the ones sent, and a client you bring is not closed by ``close()``.
    ``.chat``, ``.knowledge`` and ``.app`` share this client's pool.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        enable_logging: bool = False,
        *,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.options: Options = options_from(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_delay=retry_delay,
            enable_logging=enable_logging,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        self._user_id: str | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool (unless it was brought with ``http_client``)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> WebUIClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _share(self, cls: type[_Client]) -> _Client:
        child = object.__new__(cls)
        child.options, child._http, child._owns_http = self.options, self._http, False
        child._user_id = self._user_id
        return child

    @property
    def chat(self) -> ChatClient:
        """Chats and completions, on this client's pool."""
        return self._share(ChatClient)

    @property
    def knowledge(self) -> KnowledgeClient:
        """Files, collections and retrieval, on this client's pool."""
        return self._share(KnowledgeClient)

    @property
    def app(self) -> AppClient:
        """The admin dashboard, on this client's pool."""
        return self._share(AppClient)

    # --- sending -------------------------------------------------------------------------------

    def _send(self, call: Call) -> httpx.Response:
        """Send ``call``, retrying what is safe to retry; the last answer, whatever its status."""
        attempt = 0
        while True:
            request = build_request(self._http, call, self.options)
            started = time.monotonic()
            try:
                response = self._http.send(request, stream=call.stream)
            except httpx.TransportError as exc:
                wait = retry_wait(call, self.options, attempt, error=exc)
                log_attempt(
                    self.options, request, attempt, time.monotonic() - started, error=exc, wait=wait
                )
                if wait is None:
                    raise transport_error(exc) from exc
            else:
                wait = retry_wait(call, self.options, attempt, response=response)
                log_attempt(
                    self.options,
                    request,
                    attempt,
                    time.monotonic() - started,
                    status=response.status_code,
                    wait=wait,
                )
                if wait is None:
                    if call.stream and response.is_error:
                        self._read_error(response)
                    return raise_for_status_ours(response)
                response.close()
            finally:
                if call.upload is not None:
                    call.upload.close()
            time.sleep(wait)
            attempt += 1

    def _read_error(self, response: httpx.Response) -> None:
        try:
            response.read()
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        finally:
            response.close()

    def _json(self, call: Call) -> Any:
        """Send ``call``; its JSON, or this client's error for an error answer."""
        response = raise_for_status(self._send(call))
        return response.json() if response.content else None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool = False,
    ) -> httpx.Response:
        """Any route: ``path`` is under the base URL (``/api/...``). With ``idempotent`` a POST
        gets an ``Idempotency-Key`` and is retried like a GET."""
        call = Call(
            method.upper(),
            path,
            params=params,
            json=json,
            headers=dict(headers or {}),
            idempotent=idempotent,
        )
        return self._send(call)

    def _me_id(self) -> str:
        if self._user_id is None:
            me = self._json(Call("GET", "/api/auths/"))
            self._user_id = str(me["id"])
        return self._user_id

    def _chat(self, chat_id: str) -> str:
        """The path segment of a chat: a UUID as it is, a FastGPT ``chatId`` as the server
        maps it (which needs the account's id, asked once)."""
        if is_uuid(chat_id):
            return seg(chat_uuid(chat_id, None))
        return seg(chat_uuid(chat_id, self._me_id()))

    # --- the account and the server ------------------------------------------------------------

    def me(self) -> httpx.Response:
        """``GET /api/auths/``: the signed-in account."""
        return self._send(Call("GET", "/api/auths/"))

    def version(self) -> httpx.Response:
        return self._send(Call("GET", "/api/version"))

    def health(self) -> httpx.Response:
        return self._send(Call("GET", "/health"))


class Stream:
    """A streamed completion: iterate it for ``ChatCompletionChunk``s until ``[DONE]``.

    ``usage``, ``sources``, ``response_data``, ``text``, ``chat_id`` and ``message_id`` fill
    in as it goes. Leaving the loop early closes the response (``with stream:`` closes it at
    once). With ``resume``, a connection that breaks mid-answer is followed on the chat's
    events (``/api/chats/{id}/events``, ``Last-Event-ID``) to the end, nothing doubled.
    """

    def __init__(
        self,
        client: WebUIClient,
        response: httpx.Response,
        *,
        resume: bool,
        message_id: str | None,
    ) -> None:
        self.response = response
        self._client = client
        self._resume = resume
        self._state = StreamState(response, message_id)
        self._started = False
        self.resumed = False

    @property
    def chat_id(self) -> str | None:
        return self._state.chat_id

    @property
    def message_id(self) -> str | None:
        return self._state.message_id

    @property
    def text(self) -> str:
        """The answer's text so far."""
        return self._state.text

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._state.usage

    @property
    def sources(self) -> list[dict[str, Any]] | None:
        return self._state.sources

    @property
    def response_data(self) -> list[dict[str, Any]] | None:
        return self._state.response_data

    @property
    def finish_reason(self) -> str | None:
        return self._state.finish_reason

    @property
    def done(self) -> bool:
        return self._state.done

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        if self._started:
            raise RuntimeError("A stream can be read once.")
        self._started = True
        return self._chunks()

    def until_done(self) -> Stream:
        """Read the rest of the stream (for its ``text``, ``usage`` and ``sources``)."""
        for _ in self:
            pass
        return self

    def _chunks(self) -> Iterator[ChatCompletionChunk]:
        state = self._state
        try:
            try:
                decoder = SSEDecoder()
                for line in self.response.iter_lines():
                    event = decoder.feed(line)
                    if event is None:
                        continue
                    chunk = state.take(event)
                    if chunk is DONE:
                        return
                    if isinstance(chunk, ChatCompletionChunk):
                        yield chunk
                broken: Exception = APIConnectionError("The stream ended before [DONE].")
            except httpx.TransportError as exc:
                broken = transport_error(exc)
            if not (self._resume and state.can_resume()):
                raise broken
            self.response.close()
            self.resumed = True
            for chunk in self._follow():
                yield chunk
        finally:
            self.response.close()

    def _follow(self) -> Iterator[ChatCompletionChunk]:
        """The rest of the reply from the chat's events (reconnecting as ``max_retries`` lets)."""
        client, state = self._client, self._state
        resume = ResumeState(state)
        chat_path = f"/api/chats/{seg(state.chat_id)}"
        failures = 0
        while not resume.finished:
            call = Call(
                "GET",
                f"{chat_path}/events",
                headers={"Last-Event-ID": str(resume.last_event_id), "Accept": "text/event-stream"},
                stream=True,
            )
            response = raise_for_status(client._send(call))
            broken: Exception = APIConnectionError("The chat's events ended before the reply.")
            try:
                decoder = SSEDecoder()
                for line in response.iter_lines():
                    event = decoder.feed(line)
                    if event is None:
                        continue
                    for chunk in resume.take(event):
                        yield chunk
                    if resume.finished:
                        break
            except httpx.TransportError as exc:
                broken = transport_error(exc)
            finally:
                response.close()
            if not resume.finished:  # dropped again (or the server closed it): reconnect
                failures += 1
                if failures > client.options.max_retries:
                    raise broken
                time.sleep(backoff(client.options, failures - 1))
        saved = resume.saved
        if saved is None or not isinstance(saved.get("content"), str):
            chat = client._json(Call("GET", chat_path))
            saved = saved_reply(chat, state.message_id or "")
        for chunk in resume.finish(saved):
            yield chunk


class ChatClient(WebUIClient):
    """Completions (OpenAI, FastGPT and Open WebUI fields) and the chat history."""

    # --- completions ---------------------------------------------------------------------------

    def _completion_call(
        self,
        messages: Messages,
        *,
        stream: bool,
        model: str | None,
        chat_id: str | None,
        detail: bool | None,
        variables: dict[str, Any] | None,
        response_message_id: str | None,
        custom_uid: str | None,
        knowledge_ids: Sequence[str] | None,
        tool_ids: Sequence[str] | None,
        params: dict[str, Any],
    ) -> Call:
        payload = body(
            model=model,
            messages=as_messages(messages),
            stream=stream or None,
            chatId=chat_id,
            detail=detail or None,
            variables=variables,
            responseChatItemId=response_message_id,
            customUid=custom_uid,
            knowledge_ids=list(knowledge_ids) if knowledge_ids is not None else None,
            tool_ids=list(tool_ids) if tool_ids is not None else None,
        )
        payload.update(params)
        # Never sent twice: with a chat id the question is saved before the model answers, and
        # a model's answer costs tokens. Only a failure to connect (nothing sent) is retried.
        return Call("POST", "/api/v1/chat/completions", json=payload, stream=stream)

    def create_chat_completion(
        self,
        messages: Messages,
        stream: bool = False,
        chatId: str | None = None,
        detail: bool = False,
        variables: dict[str, Any] | None = None,
        responseChatItemId: str | None = None,
        customUid: str | None = None,
        *,
        model: str | None = None,
        knowledge_ids: Sequence[str] | None = None,
        tool_ids: Sequence[str] | None = None,
        **params: Any,
    ) -> httpx.Response:
        """``POST /api/v1/chat/completions`` as FastGPT's SDK sends it. With ``stream`` the
        response is open: read its lines, then close it (or use ``stream()``)."""
        call = self._completion_call(
            messages,
            stream=stream,
            model=model,
            chat_id=chatId,
            detail=detail,
            variables=variables,
            response_message_id=responseChatItemId,
            custom_uid=customUid,
            knowledge_ids=knowledge_ids,
            tool_ids=tool_ids,
            params=params,
        )
        return self._send(call)

    def complete(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        chat_id: str | None = None,
        knowledge_ids: Sequence[str] | None = None,
        tool_ids: Sequence[str] | None = None,
        detail: bool = False,
        response_message_id: str | None = None,
        custom_uid: str | None = None,
        variables: dict[str, Any] | None = None,
        **params: Any,
    ) -> Completion:
        """A whole answer. ``messages`` may be one string (a user message). ``chat_id`` keeps
        the history on the server (send only the new messages); ``knowledge_ids`` answers from
        collections (``sources``); other keywords (``temperature``, ...) go to the model."""
        call = self._completion_call(
            messages,
            stream=False,
            model=model,
            chat_id=chat_id,
            detail=detail,
            variables=variables,
            response_message_id=response_message_id,
            custom_uid=custom_uid,
            knowledge_ids=knowledge_ids,
            tool_ids=tool_ids,
            params=params,
        )
        return Completion.from_json(self._json(call))

    def stream(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        chat_id: str | None = None,
        knowledge_ids: Sequence[str] | None = None,
        tool_ids: Sequence[str] | None = None,
        detail: bool = False,
        response_message_id: str | None = None,
        custom_uid: str | None = None,
        variables: dict[str, Any] | None = None,
        include_usage: bool = True,
        resume: bool = False,
        **params: Any,
    ) -> Stream:
        """A streamed answer (see ``Stream``). ``resume`` needs ``chat_id``: the server
        keeps generating a chat's answer when the connection drops, and the stream picks it
        up from the chat's events."""
        if resume and not chat_id:
            raise ValueError("resume=True needs a chat_id (the server keeps that chat's answer)")
        if resume and response_message_id is None:
            response_message_id = str(uuid.uuid4())
        if include_usage:
            params.setdefault("stream_options", {"include_usage": True})
        call = self._completion_call(
            messages,
            stream=True,
            model=model,
            chat_id=chat_id,
            detail=detail,
            variables=variables,
            response_message_id=response_message_id,
            custom_uid=custom_uid,
            knowledge_ids=knowledge_ids,
            tool_ids=tool_ids,
            params=params,
        )
        response = raise_for_status(self._send(call))
        return Stream(self, response, resume=resume, message_id=response_message_id)

    # --- chats ---------------------------------------------------------------------------------

    def list_chats(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        page: int | None = None,
        archived: bool | None = None,
        pinned: bool | None = None,
        tag: str | None = None,
        folder_id: str | None = None,
        q: str | None = None,
    ) -> httpx.Response:
        """My chats, pinned first then newest; the next page's cursor is ``X-Next-Cursor``."""
        params = query(
            limit=limit,
            cursor=cursor,
            page=page,
            archived=archived,
            pinned=pinned,
            tag=tag,
            folder_id=folder_id,
            q=q,
        )
        return self._send(Call("GET", "/api/chats/", params=params))

    def get_chat(self, chat_id: str) -> httpx.Response:
        return self._send(Call("GET", f"/api/chats/{self._chat(chat_id)}"))

    def create_chat(
        self,
        *,
        title: str | None = None,
        messages: Sequence[dict[str, Any]] | None = None,
        history: dict[str, Any] | None = None,
        models: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        folder_id: str | None = None,
        pinned: bool | None = None,
        archived: bool | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """A new chat (messages as a list, or a whole ``history`` tree). Sent with an
        ``Idempotency-Key`` (yours or a new one), so a retry never makes two chats."""
        fields = body(
            title=title,
            messages=list(messages) if messages is not None else None,
            history=history,
            models=list(models) if models is not None else None,
            tags=list(tags) if tags is not None else None,
            folder_id=folder_id,
            pinned=pinned,
            archived=archived,
        )
        call = Call(
            "POST",
            "/api/chats/new",
            json={"chat": fields},
            idempotent=True,
            idempotency_key=idempotency_key,
        )
        return self._send(call)

    def update_chat(self, chat_id: str, **fields: Any) -> httpx.Response:
        """Change ``title``, ``tags``, ``pinned``, ``archived``, ``folder_id``, ``models``,
        or ``messages``/``history`` (merged, never deleting)."""
        path = f"/api/chats/{self._chat(chat_id)}"
        return self._send(Call("POST", path, json={"chat": fields}))

    def rename_chat(self, chat_id: str, title: str) -> httpx.Response:
        return self.update_chat(chat_id, title=title)

    def delete_chat(self, chat_id: str) -> httpx.Response:
        return self._send(Call("DELETE", f"/api/chats/{self._chat(chat_id)}"))

    def delete_all_chats(self) -> httpx.Response:
        return self._send(Call("DELETE", "/api/chats/"))

    def list_messages(
        self, chat_id: str, *, offset: int = 0, limit: int = 50
    ) -> httpx.Response:
        """The active branch, oldest first: ``{messages, total}``."""
        path = f"/api/chats/{self._chat(chat_id)}/messages"
        return self._send(Call("GET", path, params=query(offset=offset, limit=limit)))

    def append_message(
        self,
        chat_id: str,
        role: str,
        content: str | list[dict[str, Any]],
        *,
        id: str | None = None,
        parent_id: str | None = None,
        model: str | None = None,
        usage: dict[str, Any] | None = None,
        sources: list[dict[str, Any]] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Append to the current leaf (or under ``parent_id``), with an ``Idempotency-Key``."""
        path = f"/api/chats/{self._chat(chat_id)}/messages"
        payload = body(
            role=role,
            content=content,
            id=id,
            parent_id=parent_id,
            model=model,
            usage=usage,
            sources=sources,
        )
        call = Call("POST", path, json=payload, idempotent=True, idempotency_key=idempotency_key)
        return self._send(call)

    def edit_message(
        self, chat_id: str, message_id: str, content: str | list[dict[str, Any]]
    ) -> httpx.Response:
        """A sibling with the new content becomes the current leaf (the original stays)."""
        path = f"/api/chats/{self._chat(chat_id)}/messages/{seg(message_id)}/edit"
        return self._send(Call("POST", path, json={"content": content}))

    def delete_message(self, chat_id: str, message_id: str) -> httpx.Response:
        """Delete a message and every message below it."""
        path = f"/api/chats/{self._chat(chat_id)}/messages/{seg(message_id)}"
        return self._send(Call("DELETE", path))

    def set_feedback(
        self, chat_id: str, message_id: str, rating: int, comment: str | None = None
    ) -> httpx.Response:
        """Rate an answer: 1 (thumbs up), -1 (thumbs down), 0 (clear), with a comment."""
        path = f"/api/chats/{self._chat(chat_id)}/messages/{seg(message_id)}/feedback"
        return self._send(Call("POST", path, json=body(rating=rating, comment=comment)))

    def switch_branch(self, chat_id: str, message_id: str) -> httpx.Response:
        """Make ``message_id`` the current leaf."""
        path = f"/api/chats/{self._chat(chat_id)}/current"
        return self._send(Call("POST", path, json={"message_id": message_id}))

    def pin_chat(self, chat_id: str, pinned: bool | None = None) -> httpx.Response:
        """Pin or unpin (``None`` toggles)."""
        path = f"/api/chats/{self._chat(chat_id)}/pin"
        return self._send(Call("POST", path, json=body(pinned=pinned)))

    def archive_chat(self, chat_id: str, archived: bool | None = None) -> httpx.Response:
        """Archive or unarchive (``None`` toggles)."""
        path = f"/api/chats/{self._chat(chat_id)}/archive"
        return self._send(Call("POST", path, json=body(archived=archived)))

    def archive_all_chats(self) -> httpx.Response:
        return self._send(Call("POST", "/api/chats/archive/all"))

    def list_tags(self) -> httpx.Response:
        return self._send(Call("GET", "/api/chats/tags"))

    def add_tag(self, chat_id: str, name: str) -> httpx.Response:
        path = f"/api/chats/{self._chat(chat_id)}/tags"
        return self._send(Call("POST", path, json={"name": name}))

    def remove_tag(self, chat_id: str, name: str) -> httpx.Response:
        path = f"/api/chats/{self._chat(chat_id)}/tags"
        return self._send(Call("DELETE", path, json={"name": name}))

    def clone_chat(self, chat_id: str) -> httpx.Response:
        return self._send(Call("POST", f"/api/chats/{self._chat(chat_id)}/clone"))

    def share_chat(
        self, chat_id: str, *, require_auth: bool | None = None, expires_in: int | None = None
    ) -> httpx.Response:
        """A read-only link (sharing again refreshes the snapshot under the same id)."""
        path = f"/api/chats/{self._chat(chat_id)}/share"
        payload = body(require_auth=require_auth, expires_in=expires_in)
        return self._send(Call("POST", path, json=payload))

    def unshare_chat(self, chat_id: str) -> httpx.Response:
        return self._send(Call("DELETE", f"/api/chats/{self._chat(chat_id)}/share"))

    def get_shared_chat(self, share_id: str) -> httpx.Response:
        return self._send(Call("GET", f"/api/chats/share/{seg(share_id)}"))

    def clone_shared_chat(self, share_id: str) -> httpx.Response:
        return self._send(Call("POST", f"/api/chats/share/{seg(share_id)}/clone"))

    def export_chats(self) -> httpx.Response:
        """All my chats as one JSON document (``import_chats`` takes it back)."""
        return self._send(Call("GET", "/api/chats/export"))

    def import_chats(self, export: dict[str, Any]) -> httpx.Response:
        """Import an export, all or nothing (not retried: it is not idempotent)."""
        return self._send(Call("POST", "/api/chats/import", json=export))

    def chat_events(
        self, chat_id: str, *, last_event_id: int | None = None
    ) -> httpx.Response:
        """The chat's events as an open SSE response (``id:`` is the chat's sequence number);
        close it when done."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        path = f"/api/chats/{self._chat(chat_id)}/events"
        return self._send(Call("GET", path, headers=headers, stream=True))

    # --- typed helpers -------------------------------------------------------------------------

    def fetch_chats(self, **filters: Any) -> list[Chat]:
        """``list_chats`` parsed (the same filters)."""
        return [
            Chat.from_json(c) for c in raise_for_status(self.list_chats(**filters)).json()
        ]

    def fetch_chat(self, chat_id: str) -> Chat:
        return Chat.from_json(raise_for_status(self.get_chat(chat_id)).json())

    def start_chat(self, **fields: Any) -> Chat:
        """``create_chat`` parsed."""
        return Chat.from_json(raise_for_status(self.create_chat(**fields)).json())

    def add_message(
        self, chat_id: str, role: str, content: str | list[dict[str, Any]], **fields: Any
    ) -> Message:
        """``append_message`` parsed."""
        response = self.append_message(chat_id, role, content, **fields)
        return Message.from_json(raise_for_status(response).json())

    def fetch_messages(
        self, chat_id: str, *, offset: int = 0, limit: int = 50
    ) -> MessagePage:
        response = self.list_messages(chat_id, offset=offset, limit=limit)
        return MessagePage.from_json(raise_for_status(response).json())

    def rate_message(
        self, chat_id: str, message_id: str, rating: int, comment: str | None = None
    ) -> Message:
        """``set_feedback`` parsed: the rated message."""
        response = self.set_feedback(chat_id, message_id, rating, comment)
        return Message.from_json(raise_for_status(response).json())

    def share(
        self, chat_id: str, *, require_auth: bool | None = None, expires_in: int | None = None
    ) -> Share:
        response = self.share_chat(chat_id, require_auth=require_auth, expires_in=expires_in)
        return Share.from_json(raise_for_status(response).json())

    # --- FastGPT's names -----------------------------------------------------------------------

    def get_chat_histories(
        self,
        offset: int = 0,
        pageSize: int = 20,
        *,
        archived: bool | None = None,
        q: str | None = None,
    ) -> httpx.Response:
        """FastGPT's history list: ``offset`` must be a multiple of ``pageSize`` (pages)."""
        if pageSize < 1 or offset < 0 or offset % pageSize:
            raise ValueError("offset must be a non-negative multiple of pageSize")
        return self.list_chats(
            limit=pageSize, page=offset // pageSize + 1, archived=archived, q=q
        )

    def get_chat_init(self, chatId: str) -> httpx.Response:
        """FastGPT's chat init: the chat with its messages."""
        return self.get_chat(chatId)

    def get_chat_records(
        self,
        chatId: str,
        offset: int = 0,
        pageSize: int = 10,
    ) -> httpx.Response:
        """FastGPT's records: the active branch, ``{messages, total}``."""
        return self.list_messages(chatId, offset=offset, limit=pageSize)

    def update_chat_history(
        self,
        chatId: str,
        customTitle: str | None = None,
        top: bool | None = None,
    ) -> httpx.Response:
        """FastGPT's rename and pin (``top``)."""
        return self.update_chat(chatId, **body(title=customTitle, pinned=top))

    def delete_chat_history(self, chatId: str) -> httpx.Response:
        return self.delete_chat(chatId)

    def clear_chat_histories(self) -> httpx.Response:
        return self.delete_all_chats()

    def delete_chat_record(self, chatId: str, contentId: str) -> httpx.Response:
        """FastGPT's record delete: the message and every message below it."""
        return self.delete_message(chatId, contentId)

    def send_feedback(
        self,
        chatId: str,
        dataId: str,
        userGoodFeedback: str | None = None,
        userBadFeedback: str | None = None,
    ) -> httpx.Response:
        """FastGPT's feedback on an answer (``dataId``): good (``"yes"`` or a comment), bad
        (a reason), neither clears it."""
        if userBadFeedback is not None:
            return self.set_feedback(chatId, dataId, -1, userBadFeedback)
        if userGoodFeedback is not None:
            comment = "" if userGoodFeedback == "yes" else userGoodFeedback
            return self.set_feedback(chatId, dataId, 1, comment)
        return self.set_feedback(chatId, dataId, 0)


class KnowledgeClient(WebUIClient):
    """Files (streamed uploads), collections, processing jobs and retrieval."""

    # --- files ---------------------------------------------------------------------------------

    def upload_file(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        process: bool | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Upload a path, bytes or a binary file object (streamed, never read whole). 201 new,
        200 when the same bytes were uploaded before. Sent with an ``Idempotency-Key``; a file
        object that cannot seek back is not retried."""
        call = Call(
            "POST",
            "/api/files/",
            params=query(process=process),
            upload=Upload(file, filename),
            idempotent=True,
            idempotency_key=idempotency_key,
        )
        return self._send(call)

    def list_files(
        self, *, limit: int | None = None, cursor: str | None = None, page: int | None = None
    ) -> httpx.Response:
        params = query(limit=limit, cursor=cursor, page=page)
        return self._send(Call("GET", "/api/files/", params=params))

    def get_file(self, file_id: str) -> httpx.Response:
        return self._send(Call("GET", f"/api/files/{seg(file_id)}"))

    def delete_file(self, file_id: str) -> httpx.Response:
        return self._send(Call("DELETE", f"/api/files/{seg(file_id)}"))

    def download_file(self, file_id: str) -> httpx.Response:
        """The bytes (``response.content``)."""
        return self._send(Call("GET", f"/api/files/{seg(file_id)}/content"))

    def get_file_job(self, file_id: str) -> httpx.Response:
        return self._send(Call("GET", f"/api/files/{seg(file_id)}/job"))

    def cancel_file_job(self, file_id: str) -> httpx.Response:
        return self._send(Call("POST", f"/api/files/{seg(file_id)}/job/cancel"))

    def process_file(self, file_id: str, knowledge_id: str | None = None) -> httpx.Response:
        payload = body(file_id=file_id, knowledge_id=knowledge_id)
        return self._send(Call("POST", "/api/retrieval/process", json=payload))

    # --- collections ---------------------------------------------------------------------------

    def list_collections(
        self, *, limit: int | None = None, page: int | None = None
    ) -> httpx.Response:
        params = query(limit=limit, page=page)
        return self._send(Call("GET", "/api/knowledge/", params=params))

    def create_collection(
        self,
        name: str,
        *,
        description: str | None = None,
        public: bool | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        call = Call(
            "POST",
            "/api/knowledge/create",
            json=body(name=name, description=description, public=public),
            idempotent=True,
            idempotency_key=idempotency_key,
        )
        return self._send(call)

    def get_collection(self, collection_id: str) -> httpx.Response:
        return self._send(Call("GET", f"/api/knowledge/{seg(collection_id)}"))

    def update_collection(
        self,
        collection_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        public: bool | None = None,
    ) -> httpx.Response:
        path = f"/api/knowledge/{seg(collection_id)}/update"
        payload = body(name=name, description=description, public=public)
        return self._send(Call("POST", path, json=payload))

    def delete_collection(
        self, collection_id: str, *, delete_files: bool | None = None
    ) -> httpx.Response:
        path = f"/api/knowledge/{seg(collection_id)}"
        return self._send(Call("DELETE", path, params=query(delete_files=delete_files)))

    def add_file(self, collection_id: str, file_id: str) -> httpx.Response:
        """Add a file to a collection (indexing it if needed; adding twice changes nothing)."""
        path = f"/api/knowledge/{seg(collection_id)}/file/add"
        return self._send(Call("POST", path, json={"file_id": file_id}))

    def remove_file(self, collection_id: str, file_id: str) -> httpx.Response:
        path = f"/api/knowledge/{seg(collection_id)}/file/remove"
        return self._send(Call("POST", path, json={"file_id": file_id}))

    def reindex_collection(self, collection_id: str) -> httpx.Response:
        return self._send(Call("POST", f"/api/knowledge/{seg(collection_id)}/reindex"))

    # --- retrieval -----------------------------------------------------------------------------

    def retrieval_query(
        self,
        query_text: str,
        *,
        knowledge_ids: Sequence[str] | None = None,
        file_ids: Sequence[str] | None = None,
        top_k: int | None = None,
        hybrid: bool | None = None,
        min_score: float | None = None,
    ) -> httpx.Response:
        """``POST /api/retrieval/query``: the best chunks for a query (FastGPT's search test)."""
        payload = body(
            query=query_text,
            knowledge_ids=list(knowledge_ids) if knowledge_ids is not None else None,
            file_ids=list(file_ids) if file_ids is not None else None,
            top_k=top_k,
            hybrid=hybrid,
            min_score=min_score,
        )
        return self._send(Call("POST", "/api/retrieval/query", json=payload))

    search_test = retrieval_query

    def web_search(self, query_text: str, *, count: int | None = None) -> httpx.Response:
        payload = body(query=query_text, count=count)
        return self._send(Call("POST", "/api/retrieval/web", json=payload))

    # --- typed helpers -------------------------------------------------------------------------

    def upload(self, file: FileInput, *, filename: str | None = None) -> File:
        """``upload_file`` parsed."""
        return File.from_json(
            raise_for_status(self.upload_file(file, filename=filename)).json()
        )

    def fetch_file(self, file_id: str) -> File:
        return File.from_json(raise_for_status(self.get_file(file_id)).json())

    def new_collection(
        self, name: str, *, description: str | None = None, public: bool | None = None
    ) -> Collection:
        response = self.create_collection(name, description=description, public=public)
        return Collection.from_json(raise_for_status(response).json())

    def fetch_collection(self, collection_id: str) -> Collection:
        return Collection.from_json(
            raise_for_status(self.get_collection(collection_id)).json()
        )

    def fetch_collections(self, **page: Any) -> list[Collection]:
        response = self.list_collections(**page)
        return [Collection.from_json(c) for c in raise_for_status(response).json()]

    def wait_until_indexed(
        self,
        file_id: str,
        *,
        timeout: float = 300.0,
        poll_interval: float = 0.5,
        on_progress: Callable[[Job], None] | None = None,
    ) -> File:
        """Poll the file's job until it is indexed; ``on_progress(job)`` hears each change.

        A job that fails or is cancelled raises ``WebUIError`` (``code`` ``file_failed`` or
        ``file_cancelled``); one still running after ``timeout`` seconds ``APITimeoutError``.
        """
        deadline = time.monotonic() + timeout
        seen: tuple[str, int, int] | None = None
        while True:
            file = self.fetch_file(file_id)
            job = file.job
            if job is not None:
                now = (job.state, job.chunks_done, job.chunks_total)
                if on_progress is not None and now != seen:
                    on_progress(job)
                seen = now
                if job.state == "indexed":
                    return file
                if job.finished:
                    raise WebUIError(
                        job.error or f"Processing the file ended {job.state}.",
                        code=f"file_{job.state}",
                    )
            if time.monotonic() >= deadline:
                raise APITimeoutError(
                    f"The file was not indexed within {timeout:g} seconds.", code="index_timeout"
                )
            time.sleep(poll_interval)

    def upload_and_index(
        self,
        file: FileInput,
        collection_id: str,
        *,
        filename: str | None = None,
        timeout: float = 300.0,
        poll_interval: float = 0.5,
        on_progress: Callable[[Job], None] | None = None,
    ) -> File:
        """Upload, add to the collection, wait until searchable; the indexed ``File``."""
        uploaded = self.upload(file, filename=filename)
        raise_for_status(self.add_file(collection_id, uploaded.id))
        return self.wait_until_indexed(
            uploaded.id, timeout=timeout, poll_interval=poll_interval, on_progress=on_progress
        )

    def search(
        self,
        query_text: str,
        *,
        knowledge_ids: Sequence[str] | None = None,
        file_ids: Sequence[str] | None = None,
        top_k: int | None = None,
        hybrid: bool | None = None,
        min_score: float | None = None,
    ) -> SearchResults:
        """``retrieval_query`` parsed."""
        response = self.retrieval_query(
            query_text,
            knowledge_ids=knowledge_ids,
            file_ids=file_ids,
            top_k=top_k,
            hybrid=hybrid,
            min_score=min_score,
        )
        return SearchResults.from_json(raise_for_status(response).json())


class AppClient(WebUIClient):
    """The admin dashboard: stats, usage, the audit log, users and roles, models, connections,
    settings; and my API keys. (Admin routes answer 403 to others.)"""

    def stats(self) -> httpx.Response:
        return self._send(Call("GET", "/api/admin/stats"))

    def usage(
        self,
        *,
        start: Any = None,
        end: Any = None,
        group_by: str | None = None,
        model: str | None = None,
    ) -> httpx.Response:
        """Tokens per ``day``, ``model`` or ``user`` between two dates (inclusive, UTC);
        ``model`` keeps one model's (a custom model is FastGPT's app)."""
        params = query(start=iso_date(start), end=iso_date(end), group_by=group_by, model=model)
        return self._send(Call("GET", "/api/admin/usage", params=params))

    def audit(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        action: str | None = None,
        actor_id: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
    ) -> httpx.Response:
        params = query(
            page=page,
            page_size=page_size,
            action=action,
            actor_id=actor_id,
            target_type=target_type,
            target_id=target_id,
        )
        return self._send(Call("GET", "/api/admin/audit", params=params))

    def list_users(
        self,
        *,
        query_text: str | None = None,
        role: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> httpx.Response:
        params = query(query=query_text, role=role, page=page, page_size=page_size)
        return self._send(Call("GET", "/api/users/", params=params))

    def get_user(self, user_id: str) -> httpx.Response:
        return self._send(Call("GET", f"/api/users/{seg(user_id)}"))

    def update_user(self, user_id: str, **fields: Any) -> httpx.Response:
        return self._send(Call("POST", f"/api/users/{seg(user_id)}/update", json=fields))

    def set_user_role(self, user_id: str, role: str) -> httpx.Response:
        path = f"/api/users/{seg(user_id)}/role"
        return self._send(Call("POST", path, json={"role": role}))

    def delete_user(self, user_id: str) -> httpx.Response:
        return self._send(Call("DELETE", f"/api/users/{seg(user_id)}"))

    def list_models(self) -> httpx.Response:
        return self._send(Call("GET", "/api/models/"))

    def get_model(self, model_id: str) -> httpx.Response:
        return self._send(Call("GET", f"/api/models/{seg(model_id)}"))

    def create_model(
        self,
        name: str,
        base_model: str,
        *,
        id: str | None = None,
        params: dict[str, Any] | None = None,
        knowledge_ids: Sequence[str] | None = None,
        is_public: bool | None = None,
    ) -> httpx.Response:
        """A custom model (FastGPT's app): a base model with a system prompt, defaults and
        collections to answer from."""
        payload = body(
            name=name,
            base_model=base_model,
            id=id,
            params=params,
            knowledge_ids=list(knowledge_ids) if knowledge_ids is not None else None,
            is_public=is_public,
        )
        return self._send(Call("POST", "/api/models/create", json=payload))

    def update_model(self, model_id: str, **fields: Any) -> httpx.Response:
        path = f"/api/models/{seg(model_id)}/update"
        return self._send(Call("POST", path, json=fields))

    def delete_model(self, model_id: str) -> httpx.Response:
        return self._send(Call("DELETE", f"/api/models/{seg(model_id)}"))

    def list_connections(self) -> httpx.Response:
        return self._send(Call("GET", "/api/connections/"))

    def create_connection(self, **fields: Any) -> httpx.Response:
        """``{name, kind: openai|ollama, base_url, api_key, timeout, enabled}``."""
        return self._send(Call("POST", "/api/connections/", json=fields))

    def update_connection(self, connection_id: str, **fields: Any) -> httpx.Response:
        path = f"/api/connections/{seg(connection_id)}/update"
        return self._send(Call("POST", path, json=fields))

    def delete_connection(self, connection_id: str) -> httpx.Response:
        return self._send(Call("DELETE", f"/api/connections/{seg(connection_id)}"))

    def get_settings(self) -> httpx.Response:
        return self._send(Call("GET", "/api/admin/settings"))

    def update_settings(self, **fields: Any) -> httpx.Response:
        """``ENABLE_SIGNUP``, ``DEFAULT_USER_ROLE``, ``ENABLE_API_KEYS``, ``API_KEY_ROLES``,
        ``RATE_LIMIT``."""
        return self._send(Call("POST", "/api/admin/settings", json=fields))

    def create_api_key(
        self,
        name: str,
        *,
        scope: str | None = None,
        model: str | None = None,
        expires_at: int | None = None,
        daily_token_budget: int | None = None,
    ) -> httpx.Response:
        """A new ``sk-`` key of mine, shown once (``model`` binds it to one model)."""
        payload = body(
            name=name,
            scope=scope,
            model=model,
            expires_at=expires_at,
            daily_token_budget=daily_token_budget,
        )
        return self._send(Call("POST", "/api/users/api_key", json=payload))

    def list_api_keys(self) -> httpx.Response:
        return self._send(Call("GET", "/api/users/api_keys"))

    def revoke_api_key(self, key_id: str) -> httpx.Response:
        return self._send(Call("DELETE", f"/api/users/api_keys/{seg(key_id)}"))

    # --- typed helpers and FastGPT's names -----------------------------------------------------

    def usage_report(
        self,
        *,
        start: Any = None,
        end: Any = None,
        group_by: str = "day",
        model: str | None = None,
    ) -> UsageReport:
        """``usage`` parsed."""
        response = self.usage(start=start, end=end, group_by=group_by, model=model)
        return UsageReport.from_json(raise_for_status(response).json())

    def get_app_logs_chart(
        self,
        dateStart: Any,
        dateEnd: Any,
        offset: int | None = None,
        source: Any = None,
        userTimespan: Any = None,
        chatTimespan: Any = None,
        appTimespan: Any = None,
        *,
        appId: str | None = None,
    ) -> httpx.Response:
        """FastGPT's app chart over our usage: requests and tokens per day from ``dateStart``
        to ``dateEnd``; ``appId`` is a custom model id. Days are UTC days (``offset`` and the
        timespans are FastGPT's and have no counterpart here)."""
        return self.usage(start=dateStart, end=dateEnd, group_by="day", model=appId)


# The clients by their FastGPT-SDK names' shape, for ``from webui_client import *``.
__all__ = [
    "AppClient",
    "ChatClient",
    "KnowledgeClient",
    "Stream",
    "WebUIClient",
]
