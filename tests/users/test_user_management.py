"""User management through the API: list, read, update, role, delete; the audit log."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import bearer, signin
from tests.factories import PASSWORD
from users.models import ApiKey, AuditLog, UsageRecord, User
from users.services import usage_record, user_data_purge
from users.tasks import user_delete_task
from webui_backend.user_data import _cleanups, register_user_data_cleanup

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another long passphrase 42"


# --- List -----------------------------------------------------------------------------------


def test_admin_lists_users_with_search_role_filter_and_pages(
    admin_user: User, make_user: Any, as_user: Any
) -> None:
    for n in range(5):
        make_user(email=f"member{n}@example.com", name=f"Member {n}")
    make_user(email="waiting@example.com", name="Wanda Waiting", role=User.Role.PENDING)
    api = as_user(admin_user)

    first = api.get("/api/users/", {"page_size": 4}).json()
    second = api.get("/api/users/", {"page_size": 4, "page": 2}).json()
    searched = api.get("/api/users/", {"query": "WANDA"}).json()
    by_email = api.get("/api/users/", {"query": "member3@"}).json()
    pending = api.get("/api/users/", {"role": "pending"}).json()

    assert first["total"] == 7
    assert len(first["users"]) == 4
    assert len(second["users"]) == 3
    ids = {u["id"] for u in first["users"] + second["users"]}
    assert len(ids) == 7
    assert [u["email"] for u in searched["users"]] == ["waiting@example.com"]
    assert [u["email"] for u in by_email["users"]] == ["member3@example.com"]
    assert [u["role"] for u in pending["users"]] == ["pending"]
    assert "password" not in first["users"][0]


def test_user_list_costs_the_same_queries_for_any_page_size(
    admin_user: User, make_user: Any, as_user: Any, django_assert_max_num_queries: Any
) -> None:
    for n in range(30):
        make_user(email=f"bulk{n}@example.com")
    api = as_user(admin_user)
    api.get("/api/users/")  # the first request caches the site settings

    with django_assert_max_num_queries(4):  # user (auth), activity, count, page
        response = api.get("/api/users/", {"page_size": 30})

    assert len(response.json()["users"]) == 30


def test_non_admin_cannot_list_users(owner: User, as_user: Any) -> None:
    response = as_user(owner).get("/api/users/")

    assert response.status_code == 403
    assert response.json() == {"detail": "Only administrators may do this.", "code": "admin_only"}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"role": "wizard"}, "role"), ({"page": 0}, "page"), ({"page_size": 201}, "page_size")],
)
def test_user_list_rejects_bad_parameters(
    admin_user: User, as_user: Any, params: dict, field: str
) -> None:
    response = as_user(admin_user).get("/api/users/", params)

    assert response.status_code == 400
    assert field in response.json()["fields"]


# --- Read -----------------------------------------------------------------------------------


def test_user_reads_self_admin_reads_anyone_stranger_gets_404(
    admin_user: User, owner: User, stranger: User, as_user: Any
) -> None:
    own = as_user(owner).get(f"/api/users/{owner.pk}")
    someone_else = as_user(stranger).get(f"/api/users/{owner.pk}")
    by_admin = as_user(admin_user).get(f"/api/users/{owner.pk}")

    assert own.status_code == 200
    assert own.json()["email"] == owner.email
    assert someone_else.status_code == 404
    assert someone_else.json() == {"detail": "User not found.", "code": "user_not_found"}
    assert by_admin.status_code == 200


@pytest.mark.parametrize("user_id", [str(uuid.uuid4()), "not-a-uuid", "123"])
def test_unknown_user_is_404(admin_user: User, as_user: Any, user_id: str) -> None:
    api = as_user(admin_user)

    for response in [
        api.get(f"/api/users/{user_id}"),
        api.post(f"/api/users/{user_id}/role", {"role": "user"}, format="json"),
        api.post(f"/api/users/{user_id}/update", {"name": "X"}, format="json"),
        api.delete(f"/api/users/{user_id}"),
    ]:
        assert response.status_code == 404
        assert response.json()["code"] == "user_not_found"


# --- Update ---------------------------------------------------------------------------------


def test_user_updates_own_name_and_picture(owner: User, as_user: Any) -> None:
    response = as_user(owner).post(
        f"/api/users/{owner.pk}/update",
        {"name": "Olive New", "profile_image_url": "https://example.com/me.png"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Olive New"
    owner.refresh_from_db()
    assert owner.profile_image_url == "https://example.com/me.png"
    assert not AuditLog.objects.exists()  # changes to one's own account are not admin actions


def test_own_password_change_needs_the_current_password(owner: User, as_user: Any) -> None:
    api = as_user(owner)
    path = f"/api/users/{owner.pk}/update"

    missing = api.post(path, {"password": NEW_PASSWORD}, format="json")
    wrong = api.post(
        path, {"password": NEW_PASSWORD, "current_password": "not my password"}, format="json"
    )
    weak = api.post(path, {"password": "password", "current_password": PASSWORD}, format="json")
    right = api.post(path, {"password": NEW_PASSWORD, "current_password": PASSWORD}, format="json")
    after = api.get("/api/auths/")

    assert missing.status_code == 400
    assert missing.json()["code"] == "wrong_password"
    assert "current_password" in missing.json()["detail"]
    assert wrong.status_code == 400
    assert weak.status_code == 400
    assert "password" in weak.json()["fields"]
    assert right.status_code == 200
    assert after.status_code == 401  # the old token predates the new password
    signin(APIClient(), owner.email, NEW_PASSWORD)


def test_non_admin_cannot_change_own_email_or_budget(owner: User, as_user: Any) -> None:
    api = as_user(owner)

    email = api.post(f"/api/users/{owner.pk}/update", {"email": "me@x.com"}, format="json")
    budget = api.post(f"/api/users/{owner.pk}/update", {"daily_token_budget": 10**9}, format="json")

    assert email.status_code == 403
    assert email.json() == {
        "detail": "Only an administrator may change email.",
        "code": "admin_only",
    }
    assert budget.status_code == 403
    owner.refresh_from_db()
    assert owner.email == "owner@example.com"


def test_stranger_cannot_update_someone_else(owner: User, stranger: User, as_user: Any) -> None:
    response = as_user(stranger).post(
        f"/api/users/{owner.pk}/update", {"name": "Hacked"}, format="json"
    )

    assert response.status_code == 404
    owner.refresh_from_db()
    assert owner.name == "Olive Owner"


def test_admin_changes_email_and_resets_password_audited(
    admin_user: User, owner: User, as_user: Any
) -> None:
    response = as_user(admin_user).post(
        f"/api/users/{owner.pk}/update",
        {"email": "Olive@New.example.com", "password": NEW_PASSWORD, "daily_token_budget": 5000},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["email"] == "olive@new.example.com"
    assert response.json()["daily_token_budget"] == 5000
    signin(APIClient(), "olive@new.example.com", NEW_PASSWORD)
    entry = AuditLog.objects.get()
    assert entry.action == AuditLog.Action.USER_UPDATE
    assert entry.actor == admin_user
    assert entry.target_id == str(owner.pk)
    assert entry.detail == {"fields": ["daily_token_budget", "email", "password"]}
    assert NEW_PASSWORD not in str(entry.detail)


def test_admin_cannot_take_an_email_in_use(
    admin_user: User, owner: User, stranger: User, as_user: Any
) -> None:
    response = as_user(admin_user).post(
        f"/api/users/{owner.pk}/update", {"email": stranger.email.upper()}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": 42}, "name"),
        ({"profile_image_url": "x" * 2049}, "profile_image_url"),
        ({"role": "admin"}, "role"),
        ({"email": "not-an-email"}, "email"),
        ({"daily_token_budget": -1}, "daily_token_budget"),
    ],
)
def test_update_rejects_bad_fields(
    admin_user: User, owner: User, as_user: Any, body: dict, field: str
) -> None:
    response = as_user(admin_user).post(f"/api/users/{owner.pk}/update", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["fields"]


# --- Role -----------------------------------------------------------------------------------


def test_admin_changes_a_role_audited_and_in_force_on_the_next_request(
    admin_user: User, owner: User, as_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    owner_token = signin(APIClient(), owner.email)["token"]
    owner_api = bearer(owner_token)
    assert owner_api.get("/api/users/").status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        promoted = as_user(admin_user).post(
            f"/api/users/{owner.pk}/role", {"role": "admin"}, format="json"
        )

    assert promoted.status_code == 200
    assert promoted.json()["role"] == "admin"
    assert owner_api.get("/api/users/").status_code == 200  # same token, new role
    entry = AuditLog.objects.get(action=AuditLog.Action.USER_ROLE_CHANGE)
    assert entry.detail == {"email": owner.email, "from": "user", "to": "admin"}


def test_demotion_to_pending_locks_the_account_out_at_once(
    admin_user: User, owner: User, as_user: Any
) -> None:
    owner_api = bearer(signin(APIClient(), owner.email)["token"])

    as_user(admin_user).post(f"/api/users/{owner.pk}/role", {"role": "pending"}, format="json")
    response = owner_api.get(f"/api/users/{owner.pk}")

    assert response.status_code == 403
    assert response.json()["code"] == "account_pending"


def test_nobody_changes_their_own_role(admin_user: User, make_user: Any, as_user: Any) -> None:
    make_user(role=User.Role.ADMIN, email="second-admin@example.com")

    response = as_user(admin_user).post(
        f"/api/users/{admin_user.pk}/role", {"role": "user"}, format="json"
    )

    assert response.status_code == 403
    assert response.json() == {
        "detail": "You cannot change your own role; ask another administrator.",
        "code": "own_role_change",
    }
    admin_user.refresh_from_db()
    assert admin_user.role == "admin"


@pytest.mark.parametrize("body", [{"role": "superuser"}, {"role": ""}, {}, {"role": ["admin"]}])
def test_invalid_role_is_400(admin_user: User, owner: User, as_user: Any, body: dict) -> None:
    response = as_user(admin_user).post(f"/api/users/{owner.pk}/role", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "role" in response.json()["fields"]


def test_non_admin_cannot_change_roles(owner: User, stranger: User, as_user: Any) -> None:
    response = as_user(owner).post(
        f"/api/users/{stranger.pk}/role", {"role": "admin"}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "admin_only"


def test_the_last_admin_can_be_neither_demoted_nor_deleted(
    admin_user: User, make_user: Any
) -> None:
    """Only reachable when the acting admin lost the role meanwhile (a race the lock closes):
    from the locked rows' point of view the target is then the last admin."""
    from users.errors import LastAdmin
    from users.services import user_delete, user_role_set

    other = make_user(role=User.Role.ADMIN, email="other-admin@example.com")
    User.objects.filter(pk=admin_user.pk).update(role=User.Role.USER)  # admin_user is stale

    with pytest.raises(LastAdmin):
        user_role_set(actor=admin_user, user=other, role=User.Role.USER)
    with pytest.raises(LastAdmin) as deleted:
        user_delete(actor=admin_user, user=other)

    other.refresh_from_db()
    assert other.role == User.Role.ADMIN
    assert other.is_active
    assert deleted.value.status_code == 409
    assert str(deleted.value.detail).startswith("This is the last administrator")


# --- Delete ---------------------------------------------------------------------------------


def test_admin_deletes_a_user_and_everything_they_own(
    admin_user: User,
    owner: User,
    stranger: User,
    as_user: Any,
    make_key: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
    eager_tasks: None,
) -> None:
    owner_token = signin(APIClient(), owner.email)["token"]
    key, raw = make_key(owner)
    usage_record(user=owner, api_key=key, model="m", prompt_tokens=1, completion_tokens=2)
    usage_record(user=owner, api_key=None, model="m", prompt_tokens=1, completion_tokens=2)
    cleaned: list[str] = []
    register_user_data_cleanup("test.blobs", cleaned.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = as_user(admin_user).delete(f"/api/users/{owner.pk}")
    finally:
        _cleanups.pop("test.blobs")

    assert response.status_code == 200
    assert response.json() is True
    assert not User.objects.filter(pk=owner.pk).exists()
    assert not ApiKey.objects.filter(user_id=owner.pk).exists()
    assert not UsageRecord.objects.filter(user_id=owner.pk).exists()
    assert cleaned == [str(owner.pk)]
    assert User.objects.filter(pk=stranger.pk).exists()
    assert bearer(owner_token).get("/api/auths/").status_code == 401
    assert bearer(raw).get("/api/auths/").status_code == 401
    entry = AuditLog.objects.get(action=AuditLog.Action.USER_DELETE)
    assert entry.target_id == str(owner.pk)
    assert entry.detail["email"] == owner.email


def test_deletion_disables_the_account_before_the_task_runs(
    admin_user: User, owner: User, as_user: Any, make_key: Callable[..., Any]
) -> None:
    """Without running the on-commit task: the account is already locked out."""
    owner_token = signin(APIClient(), owner.email)["token"]
    _, raw = make_key(owner)

    response = as_user(admin_user).delete(f"/api/users/{owner.pk}")

    assert response.status_code == 200
    owner.refresh_from_db()
    assert owner.is_active is False
    assert bearer(owner_token).get("/api/auths/").status_code == 401
    jwt_refused = bearer(owner_token).get("/api/auths/").json()
    key_refused = bearer(raw).get("/api/auths/").json()
    assert jwt_refused["code"] in {"user_inactive", "token_not_valid", "authentication_failed"}
    assert key_refused == {
        "detail": "The account of this API key is disabled.",
        "code": "api_key_invalid",
    }
    assert signin_fails(owner)


def signin_fails(user: User) -> bool:
    response = APIClient().post(
        "/api/auths/signin", {"email": user.email, "password": PASSWORD}, format="json"
    )
    return response.status_code == 401


def test_delete_task_is_idempotent_and_spares_active_accounts(owner: User, stranger: User) -> None:
    User.objects.filter(pk=owner.pk).update(is_active=False)

    user_delete_task(str(owner.pk))
    user_delete_task(str(owner.pk))  # already gone: nothing to do

    assert not User.objects.filter(pk=owner.pk).exists()
    assert user_data_purge(user_id=str(stranger.pk)) is False  # never deletes an active account
    assert User.objects.filter(pk=stranger.pk).exists()


def test_nobody_deletes_themselves_here(admin_user: User, make_user: Any, as_user: Any) -> None:
    make_user(role=User.Role.ADMIN, email="second-admin@example.com")

    response = as_user(admin_user).delete(f"/api/users/{admin_user.pk}")

    assert response.status_code == 403
    assert response.json()["code"] == "own_account_deletion"
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_non_admin_cannot_delete(owner: User, stranger: User, as_user: Any) -> None:
    response = as_user(owner).delete(f"/api/users/{stranger.pk}")

    assert response.status_code == 403
    assert response.json()["code"] == "admin_only"
    stranger.refresh_from_db()
    assert stranger.is_active


# --- Audit log ------------------------------------------------------------------------------


def test_admin_lists_and_filters_the_audit_log(
    admin_user: User, owner: User, stranger: User, as_user: Any
) -> None:
    api = as_user(admin_user)
    api.post(f"/api/users/{owner.pk}/role", {"role": "pending"}, format="json")
    api.post(f"/api/users/{stranger.pk}/role", {"role": "admin"}, format="json")
    api.post("/api/auths/admin/config", {"ENABLE_SIGNUP": False}, format="json")

    everything = api.get("/api/admin/audit").json()
    roles = api.get("/api/admin/audit", {"action": "user.role_change"}).json()
    about_owner = api.get("/api/admin/audit", {"target_id": str(owner.pk)}).json()

    assert everything["total"] == 3
    assert [e["action"] for e in everything["entries"]] == [
        "settings.update",
        "user.role_change",
        "user.role_change",
    ]
    assert everything["entries"][0]["actor_email"] == admin_user.email
    assert everything["entries"][0]["detail"] == {"changes": {"enable_signup": False}}
    assert roles["total"] == 2
    assert [e["target_id"] for e in about_owner["entries"]] == [str(owner.pk)]


def test_audit_log_is_for_admins_only(owner: User, as_user: Any) -> None:
    assert as_user(owner).get("/api/admin/audit").status_code == 403


def test_audit_log_rejects_an_unknown_action(admin_user: User, as_user: Any) -> None:
    response = as_user(admin_user).get("/api/admin/audit", {"action": "launch.missiles"})

    assert response.status_code == 400
    assert "action" in response.json()["fields"]


@pytest.mark.parametrize("page", ["0", "-1", "1000001", "1732745999952496068246564588696371200"])
def test_out_of_range_pages_are_400(admin_user: User, as_user: Any, page: str) -> None:
    response = as_user(admin_user).get("/api/users/", {"page": page})

    assert response.status_code == 400
    assert "page" in response.json()["fields"]


def test_token_budgets_beyond_the_column_are_400(
    admin_user: User, owner: User, as_user: Any
) -> None:
    api = as_user(admin_user)

    user_budget = api.post(
        f"/api/users/{owner.pk}/update", {"daily_token_budget": 2**70}, format="json"
    )
    key_budget = api.post(
        "/api/users/api_key", {"name": "k", "daily_token_budget": 2**70}, format="json"
    )

    assert user_budget.status_code == 400
    assert "daily_token_budget" in user_budget.json()["fields"]
    assert key_budget.status_code == 400
    assert not ApiKey.objects.exists()
