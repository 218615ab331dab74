"""Import an Open WebUI deployment (``manage.py import_openwebui``).

Users, their password hashes and API keys, chats (every branch), tags, pins, archive flags,
folders, share links, files, knowledge collections, custom models, connections, and the source
of functions and tools (kept inactive). Ids are kept where ours can hold them, which is what
makes a second run a no-op: whatever is already here is counted as such and left alone.

Each user's data is one transaction: a user is imported whole or not at all. Things that need
several users' data (custom models on someone's collection, connections) come after, each in
its own transaction. ``dry_run`` does all of it in one transaction (each part a savepoint) and
rolls it back. Whatever
cannot be imported is listed in the summary with the reason, never dropped in silence.
"""

import hashlib
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.validators import validate_email
from django.db import transaction
from rest_framework.exceptions import ValidationError

from chats.models import Chat, ChatShare
from chats.serializers import (
    ExportedChatSerializer,
)
from chats.services import chat_share, chats_import
from functions.services import function_import_inactive
from importers.openwebui_chats import as_datetime, chat_from_openwebui
from importers.openwebui_source import Source
from knowledge.models import File, Knowledge
from knowledge.selectors import knowledge_ids_readable
from knowledge.services import (
    file_bytes_unclaimed_delete,
    file_upload,
    knowledge_create,
    knowledge_file_add,
    processing_job_queue,
)
from llm.models import Connection, CustomModel
from llm.serializers import MODEL_ID_PATTERN, ModelParamsSerializer
from llm.services import connection_create, custom_model_create
from users.models import SiteSettings, User, normalize_email
from users.services import api_key_import, site_settings_update
from webui_backend.errors import AppError

ROLES = {"admin", "user", "pending"}
NOT_HERE = {
    "prompt": "prompts (saved prompt templates are the frontend's)",
    "note": "notes",
    "memory": "memories",
    "channel": "channels",
    "message": "channel messages",
    "feedback": "feedback and ratings",
    "group": "user groups",
    "skill": "skills",
    "automation": "automations",
    "calendar": "calendars",
    "document": "legacy documents (import their files instead)",
    "app": "apps",
}


def password_hash(stored: str | None) -> str | None:
    """Open WebUI's stored hash as Django's encoded form, or None if it has none we read."""
    if not stored:
        return None
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        return f"bcrypt${stored}"
    if stored.startswith("$argon2"):
        return f"argon2{stored}"
    return None


@dataclass
class Summary:
    imported: Counter = field(default_factory=Counter)
    existing: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)  # what was not imported, and why

    def note(self, kind: str, text: str) -> None:
        self.failed[kind] += 1
        self.notes.append(text)

    def merge(self, other: "Summary") -> None:
        self.imported.update(other.imported)
        self.existing.update(other.existing)
        self.failed.update(other.failed)
        self.notes.extend(other.notes)


class _Rollback(Exception):
    """Raised inside the dry run's transaction to roll it back after counting."""


@dataclass
class Importer:
    source: Source
    dry_run: bool = False
    progress: Callable[[str, int, int], None] = lambda label, done, total: None
    summary: Summary = field(default_factory=Summary)
    stored_names: list[str] = field(default_factory=list)  # bytes written this transaction
    all_stored: list[str] = field(default_factory=list)  # ... and by those that committed

    # --- the whole run --------------------------------------------------------------------

    def run(self) -> Summary:
        """Import everything; a dry run does the same inside one transaction rolled back at
        the end (so later parts see the earlier ones, as in a real run)."""
        if not self.dry_run:
            self._run()
            return self.summary
        try:
            with transaction.atomic():
                self._run()
                raise _Rollback()
        except _Rollback:
            file_bytes_unclaimed_delete(storage_names=self.all_stored)
        return self.summary

    def _run(self) -> None:
        users = self.source.rows("user", "ORDER BY created_at")
        auths = {row["id"]: row for row in self.source.rows("auth")}
        self.tags = {(r["user_id"], r["id"]): r["name"] for r in self.source.rows("tag")}
        self.grants = self.source.rows("access_grant")
        self.shares = self._share_ids()
        self.folders = self.source.rows("folder")
        self.users_by_id: dict[str, User] = {}
        for index, row in enumerate(users):
            self.progress("users", index, len(users))
            self._in_transaction(lambda row=row: self._user_whole(row, auths.get(row["id"])))
        self.progress("users", len(users), len(users))
        items: list[tuple[str, dict[str, Any]]] = [
            *(("model", r) for r in self.source.json_rows("model", "params", "meta")),
            *(("function", r) for r in self.source.json_rows("function", "meta")),
            *(("tool", r) for r in self.source.json_rows("tool", "meta")),
        ]
        for index, (kind, row) in enumerate(items):
            self.progress("models, functions, tools", index, len(items))
            handler = {"model": self._model, "function": self._plugin, "tool": self._plugin}[kind]
            self._in_transaction(lambda h=handler, k=kind, r=row: h(k, r))
        self.progress("models, functions, tools", len(items), len(items))
        self._in_transaction(self._connections)
        self._in_transaction(self._site_settings)
        self._left_behind()

    def _in_transaction(self, work: Callable[[], None]) -> None:
        """Run ``work`` in one transaction; a failure rolls back that part only and is listed."""
        local = Summary()
        outer, self.summary = self.summary, local
        self.stored_names = []
        try:
            with transaction.atomic():  # a savepoint inside a dry run's transaction
                work()
            self.all_stored.extend(self.stored_names)
        except Exception as exc:  # one user's (or item's) data, rolled back whole
            file_bytes_unclaimed_delete(storage_names=self.stored_names)
            local = Summary()
            label = getattr(self, "_current", "an item")
            local.note("errors", f"{label}: not imported, its transaction rolled back ({exc}).")
        self.summary = outer
        self.summary.merge(local)

    # --- users ----------------------------------------------------------------------------

    def _user_whole(self, row: dict[str, Any], auth: dict[str, Any] | None) -> None:
        self._current = f"user {row.get('email')!r}"
        user = self._user(row, auth)
        if user is None:
            return
        self.users_by_id[row["id"]] = user
        self._api_keys(row, user)
        files = self._files(row, user)
        self._knowledge(row, user, files)
        self._chats(row, user)

    def _user(self, row: dict[str, Any], auth: dict[str, Any] | None) -> User | None:
        email = normalize_email(row.get("email") or "")
        try:
            validate_email(email)
        except DjangoValidationError:
            self.summary.note(
                "users",
                f"user {row['id']} ({email!r}): not imported, not a valid email; "
                "nothing of theirs was imported.",
            )
            return None
        try:
            user_id = uuid.UUID(str(row["id"]))
        except ValueError:
            user_id = uuid.uuid5(uuid.NAMESPACE_URL, f"openwebui:user:{row['id']}")
        by_id = User.objects.filter(pk=user_id).first()
        if by_id is not None:
            self.summary.existing["users"] += 1
            return by_id
        by_email = User.objects.filter(email=email).first()
        if by_email is not None:
            self.summary.existing["users"] += 1
            self.summary.notes.append(
                f"user {email}: an account with this email was already here; their Open WebUI "
                "data was imported into it (its password, role and name were kept)."
            )
            return by_email
        role = row.get("role") if row.get("role") in ROLES else "pending"
        if role != row.get("role"):
            self.summary.notes.append(
                f"user {email}: role {row.get('role')!r} does not exist here; made 'pending' "
                "(an admin approves the account)."
            )
        image = row.get("profile_image_url") or ""
        if image == "/user.png" or image.startswith(("/static/", "/api/")):
            image = ""  # Open WebUI's placeholder or its own route: nothing to show here
        if len(image) > User._meta.get_field("profile_image_url").max_length:
            self.summary.notes.append(
                f"user {email}: profile image ({len(image)} characters) is larger than this "
                "server keeps (2048); the account has none."
            )
            image = ""
        user = User(
            id=user_id,
            email=email,
            name=(row.get("name") or email)[:255],
            role=role,
            profile_image_url=image,
            is_active=bool(auth.get("active", True)) if auth else True,
            last_active_at=as_datetime(row.get("last_active_at")),
        )
        encoded = password_hash(auth.get("password") if auth else None)
        if encoded is None:
            user.set_unusable_password()
            self.summary.notes.append(
                f"user {email}: no password hash this server reads (an OAuth, LDAP or trusted-"
                "header account): an admin must set a password (POST /api/users/{id}/update)."
            )
        else:
            user.password = encoded
        user.save()
        created = as_datetime(row.get("created_at"))
        if created is not None:
            User.objects.filter(pk=user.pk).update(created_at=created)
        self.summary.imported["users"] += 1
        return user

    def _api_keys(self, row: dict[str, Any], user: User) -> None:
        for key in self.source.rows("api_key", "WHERE user_id = ?", (row["id"],)):
            raw = key.get("key") or ""
            try:
                _, created = api_key_import(
                    user=user,
                    raw=raw,
                    name="Imported from Open WebUI",
                    expires_at=as_datetime(key.get("expires_at")),
                )
            except AppError:
                self.summary.note(
                    "api_keys",
                    f"user {user.email}: an API key ({raw[:6]}…) has a form this "
                    "server cannot accept; it must be made again (POST /api/users/api_key).",
                )
                continue
            (self.summary.imported if created else self.summary.existing)["api_keys"] += 1

    # --- files and knowledge ---------------------------------------------------------------

    def _file_bytes(self, row: dict[str, Any]) -> bytes | None:
        uploads = self.source.uploads
        if uploads is None:
            return None
        stored = str(row.get("path") or "")
        candidates = [Path(stored).name, f"{row['id']}_{row.get('filename') or ''}"]
        for name in candidates:
            if name and (uploads / name).is_file():
                return (uploads / name).read_bytes()
        return None

    def _files(self, row: dict[str, Any], user: User) -> dict[str, File]:
        mapped: dict[str, File] = {}
        for item in self.source.json_rows(
            "file", "meta", where="WHERE user_id = ?", params=(row["id"],)
        ):
            name = item.get("filename") or (item.get("meta") or {}).get("name") or "file"
            data = self._file_bytes(item)
            if data is None:
                self.summary.note(
                    "files",
                    f"file {name!r} of {user.email}: its bytes are not in the uploads "
                    f"folder ({self.source.uploads or 'none given: --uploads'}); path there: "
                    f"{item.get('path')!r}.",
                )
                continue
            if len(data) > settings.FILE_MAX_BYTES:
                self.summary.note(
                    "files",
                    f"file {name!r} of {user.email}: {len(data)} bytes, more than "
                    f"FILE_MAX_BYTES ({settings.FILE_MAX_BYTES}).",
                )
                continue
            digest = hashlib.sha256(data).hexdigest()
            existing = File.objects.filter(user=user, sha256=digest).first()
            if existing is not None:
                mapped[item["id"]] = existing
                self.summary.existing["files"] += 1
                continue
            upload = SimpleUploadedFile(name, data, content_type="application/octet-stream")
            try:
                file, _ = file_upload(user=user, uploaded=upload, raw_name=name, sha256=digest)
            except AppError as exc:
                self.summary.note("files", f"file {name!r} of {user.email}: {exc.detail}")
                continue
            self.stored_names.append(file.storage_name)
            mapped[item["id"]] = file
            self.summary.imported["files"] += 1
        in_collections = (
            {
                r["file_id"]
                for r in self.source.rows("knowledge_file", "WHERE user_id = ?", (row["id"],))
            }
            if self._has_column("knowledge_file", "user_id")
            else set()
        )
        for owui_id, file in mapped.items():
            if owui_id not in in_collections and not file.status:
                processing_job_queue(file=file, force=False)  # searchable as a chat's file
        return mapped

    def _has_column(self, table: str, column: str) -> bool:
        from importers.openwebui_source import _columns

        return column in _columns(self.source.connection, self.source.kind, table)

    def _public(self, resource_type: str, resource_id: str) -> bool:
        return any(
            g["resource_type"] == resource_type
            and g["resource_id"] == resource_id
            and g["principal_type"] == "user"
            and g["principal_id"] == "*"
            for g in self.grants
        )

    def _knowledge(self, row: dict[str, Any], user: User, files: dict[str, File]) -> None:
        for item in self.source.json_rows(
            "knowledge", "data", "meta", where="WHERE user_id = ?", params=(row["id"],)
        ):
            try:
                knowledge_id = uuid.UUID(str(item["id"]))
            except ValueError:
                knowledge_id = uuid.uuid5(uuid.NAMESPACE_URL, f"openwebui:knowledge:{item['id']}")
            knowledge = Knowledge.objects.filter(pk=knowledge_id).first()
            if knowledge is not None and knowledge.user_id != user.pk:
                self.summary.note(
                    "knowledge",
                    f"collection {item['name']!r}: its id is another account's collection here.",
                )
                continue
            if knowledge is None:
                knowledge = knowledge_create(
                    user=user,
                    name=(item.get("name") or "Collection")[:255],
                    description=item.get("description") or "",
                    public=self._public("knowledge", item["id"]),
                    knowledge_id=knowledge_id,
                )
                self.summary.imported["knowledge"] += 1
            else:
                self.summary.existing["knowledge"] += 1
            file_ids = [
                r["file_id"]
                for r in self.source.rows("knowledge_file", "WHERE knowledge_id = ?", (item["id"],))
            ]
            for file_id in (item.get("data") or {}).get("file_ids") or []:  # older versions
                if file_id not in file_ids:
                    file_ids.append(file_id)
            for file_id in file_ids:
                file = files.get(file_id)
                if file is None:
                    self.summary.note(
                        "knowledge",
                        f"collection {item['name']!r}: file {file_id} was not "
                        "imported (see the files above), so it is not in the collection.",
                    )
                    continue
                knowledge_file_add(knowledge=knowledge, file=file)  # queues indexing

    # --- chats ----------------------------------------------------------------------------

    def _share_ids(self) -> dict[str, list[str]]:
        shares: dict[str, list[str]] = {}
        for row in self.source.rows("shared_chat", "ORDER BY created_at"):
            shares.setdefault(row["chat_id"], []).append(row["id"])
        for row in self.source.rows("chat", "WHERE share_id IS NOT NULL"):
            ids = shares.setdefault(row["id"], [])
            if row["share_id"] not in ids:
                ids.append(row["share_id"])
        return shares

    def _chats(self, row: dict[str, Any], user: User) -> None:
        for item in self.source.iter_chats(row["id"]):
            title = item.get("title") or "New Chat"
            label = f"chat {title!r} ({item['id']}) of {user.email}"
            existing = Chat.objects.filter(pk=item["id"]).first() if _uuid(item["id"]) else None
            if existing is not None and existing.user_id != user.pk:
                self.summary.note("chats", f"{label}: its id is another account's chat here.")
                continue
            if existing is None:
                if item["chat_corrupt"]:
                    self.summary.note("chats", f"{label}: its JSON cannot be read.")
                    continue
                converted, notes = chat_from_openwebui(item, self.tags, user_key=row["id"])
                data = ExportedChatSerializer(data=converted)
                try:
                    data.is_valid(raise_exception=True)
                    with transaction.atomic():
                        (existing,) = chats_import(user=user, chats=[data.validated_data])
                except (ValidationError, AppError) as exc:
                    detail = exc.detail if isinstance(exc, AppError) else _flat(exc.detail)
                    self.summary.note("chats", f"{label}: not imported ({detail}).")
                    continue
                self.summary.imported["chats"] += 1
                self.summary.imported["messages"] += len(converted["messages"])
                self.summary.notes.extend(f"{label}: {note}" for note in notes)
            else:
                self.summary.existing["chats"] += 1
            self._share(existing, self.shares.get(item["id"], []), label)

    def _share(self, chat: Chat, share_ids: list[str], label: str) -> None:
        if not share_ids:
            return
        share = ChatShare.objects.filter(chat=chat).first()
        if share is not None:
            self.summary.existing["shares"] += 1
            return
        share_id = share_ids[-1]
        if len(share_ids) > 1:
            self.summary.notes.append(
                f"{label}: had {len(share_ids)} share links; this server keeps one per chat, "
                f"the newest ({share_id}); the others stop working."
            )
        if ChatShare.objects.filter(share_id=share_id).exists() or len(share_id) > 64:
            self.summary.note("shares", f"{label}: share link {share_id} cannot keep its id.")
            return
        chat_share(chat, require_auth=True, expires_at=None, share_id=share_id)
        self.summary.imported["shares"] += 1

    # --- custom models, functions, tools, connections ----------------------------------------

    def _owner(self, kind: str, row: dict[str, Any]) -> User | None:
        owner = self.users_by_id.get(row.get("user_id") or "")
        if owner is None:
            owner = User.objects.filter(role=User.Role.ADMIN, is_active=True).first()
            if owner is None:
                self.summary.note(kind + "s", f"{kind} {row['id']!r}: no owner to give it to.")
        return owner

    def _model(self, kind: str, row: dict[str, Any]) -> None:
        self._current = f"model {row['id']!r}"
        if not row.get("base_model_id"):
            self.summary.note(
                "models",
                f"model {row['id']!r}: Open WebUI's settings of an upstream model "
                "(name, parameters, visibility); here upstream models are listed as they are.",
            )
            return
        if CustomModel.objects.filter(model_id=row["id"]).exists():
            self.summary.existing["models"] += 1
            return
        if not MODEL_ID_PATTERN.match(row["id"]):
            self.summary.note("models", f"model {row['id']!r}: the id is not one ours can hold.")
            return
        owner = self._owner("model", row)
        if owner is None:
            return
        meta, params = row.get("meta") or {}, row.get("params") or {}
        checked = ModelParamsSerializer(data=params)
        if not checked.is_valid():
            self.summary.notes.append(
                f"model {row['id']!r}: parameters not kept ({_flat(checked.errors)})."
            )
            kept: dict[str, Any] = {}
        else:
            kept = dict(checked.validated_data)
        knowledge_ids = []
        for ref in meta.get("knowledge") or []:
            ref_id = ref.get("id") if isinstance(ref, dict) else None
            readable = knowledge_ids_readable(user=owner, knowledge_ids=[ref_id], lenient=True)
            if readable:
                knowledge_ids.append(str(readable[0]))
                continue
            why = (
                "is not here"
                if not Knowledge.objects.filter(pk=_uuid(ref_id or "") or uuid.uuid4()).exists()
                else f"is private to another account, which {owner.email} cannot read here"
            )
            self.summary.notes.append(
                f"model {row['id']!r}: knowledge {ref_id or ref!r} {why}; not attached."
            )
        try:
            custom_model_create(
                owner=owner,
                model_id=row["id"],
                name=(row.get("name") or row["id"])[:255],
                base_model=row["base_model_id"][:255],
                params=kept,
                knowledge_ids=knowledge_ids,
                is_public=self._public("model", row["id"]),
            )
        except AppError as exc:
            self.summary.note("models", f"model {row['id']!r}: {exc.detail}")
            return
        self.summary.imported["models"] += 1
        if row.get("is_active") is False or row.get("is_active") == 0:
            self.summary.notes.append(f"model {row['id']!r}: was hidden there; it is listed here.")

    def _plugin(self, kind: str, row: dict[str, Any]) -> None:
        self._current = f"{kind} {row['id']!r}"
        owner = self._owner(kind, row)
        if owner is None:
            return
        subtype = row.get("type") or kind  # functions: filter, pipe or action
        name = re.sub(r"[^0-9a-zA-Z_]", "_", f"openwebui_{subtype}_{row['id']}")[:64]
        description = (
            f'Imported from Open WebUI ({subtype} {row["id"]!r}, "{row.get("name") or ""}"): '
            "kept for review and inactive. Open WebUI ran it unsandboxed as a plugin class; "
            "rewrite it as one Python function before activating it. "
            f"{(row.get('meta') or {}).get('description') or ''}"
        ).strip()
        try:
            _, created = function_import_inactive(
                user=owner, name=name, content=row.get("content") or "", description=description
            )
        except AppError as exc:
            self.summary.note(kind + "s", f"{kind} {row['id']!r}: {exc.detail}")
            return
        key = "functions" if kind == "function" else "tools"
        (self.summary.imported if created else self.summary.existing)[key] += 1

    def _connections(self) -> None:
        self._current = "connections"
        config = self.source.config()
        groups = (
            (Connection.Kind.OPENAI, "openai.api_base_urls", "openai.api_keys", "openai.enable"),
            (Connection.Kind.OLLAMA, "ollama.base_urls", None, "ollama.enable"),
        )
        for kind, urls_key, keys_key, enable_key in groups:
            urls = config.get(urls_key) or []
            keys = (config.get(keys_key) if keys_key else None) or []
            enabled = config.get(enable_key, True) is not False
            for index, url in enumerate(urls if isinstance(urls, list) else []):
                if not isinstance(url, str) or not url.strip():
                    continue
                url = url.strip().rstrip("/")
                if Connection.objects.filter(kind=kind, base_url=url).exists():
                    self.summary.existing["connections"] += 1
                    continue
                key = keys[index] if index < len(keys) and isinstance(keys[index], str) else ""
                connection_create(
                    name=f"{kind} {index + 1} (Open WebUI)"[:100],
                    kind=kind,
                    base_url=url[:500],
                    api_key=key[:500],
                    enabled=enabled,
                )
                self.summary.imported["connections"] += 1

    def _site_settings(self) -> None:
        """Its admin's choices of sign-up, default role and API keys, where ours has made none
        (a choice saved here is never overwritten)."""
        self._current = "site settings"
        config = self.source.config()
        row = SiteSettings.objects.filter(pk=1).first()
        changes: dict[str, Any] = {}
        signup = config.get("ui.enable_signup")
        if isinstance(signup, bool) and (row is None or row.enable_signup is None):
            changes["enable_signup"] = signup
        role = config.get("ui.default_user_role")
        if role in {"user", "pending"} and (row is None or not row.default_user_role):
            changes["default_user_role"] = role
        elif role == "admin":
            self.summary.notes.append(
                "site settings: Open WebUI's default role 'admin' for new accounts is not kept; "
                "new accounts get this server's default."
            )
        keys = config.get("auth.enable_api_keys")
        if isinstance(keys, bool) and (row is None or row.enable_api_keys is None):
            changes["enable_api_keys"] = keys
        if changes:
            site_settings_update(**changes)
            self.summary.imported["settings"] += len(changes)

    def _left_behind(self) -> None:
        folders = len(self.folders)
        if folders:
            self.summary.notes.append(
                f"{folders} folder(s): this server has no folder objects; each chat keeps its "
                "folder_id (so a client can still group them), the folders' names stay behind: "
                + ", ".join(sorted({f["name"] for f in self.folders})[:20])
                + "."
            )
        for table, what in NOT_HERE.items():
            try:
                count = len(self.source.rows(table))
            except Exception:  # a table this version does not have
                self.source.connection.rollback()
                continue
            if count:
                self.summary.note("other", f"{count} {what}: this server has no such thing.")


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _flat(detail: Any) -> str:
    return json.dumps(detail, default=str)[:500]
