from typing import Any

import pytest
from django.test import Client

from tests.factories import PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db


def test_admin_lists_searches_and_filters_users(admin_user: User, make_user: Any) -> None:
    make_user(email="findme@example.com", role=User.Role.PENDING)
    client = Client()
    assert client.login(email=admin_user.email, password=PASSWORD)

    listing = client.get("/admin/users/user/", {"q": "findme"})
    pending = client.get("/admin/users/user/", {"role__exact": "pending"})

    assert listing.status_code == 200
    assert b"findme@example.com" in listing.content
    assert b"findme@example.com" in pending.content
    assert f"/admin/users/user/{admin_user.pk}/change/".encode() not in pending.content


def test_admin_can_open_and_add_a_user(admin_user: User) -> None:
    client = Client()
    client.force_login(admin_user)

    page = client.get(f"/admin/users/user/{admin_user.pk}/change/")
    added = client.post(
        "/admin/users/user/add/",
        {"email": "staffmade@example.com", "name": "Made", "role": "user", "password": PASSWORD},
    )

    assert page.status_code == 200
    assert added.status_code == 302
    assert User.objects.get(email="staffmade@example.com").check_password(PASSWORD)


def test_ordinary_users_are_kept_out_of_the_admin(owner: User) -> None:
    client = Client()
    client.force_login(owner)

    response = client.get("/admin/users/user/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("model", ["chat", "message", "tag", "chatshare"])
def test_chat_models_have_admin_pages(admin_user: User, model: str) -> None:
    client = Client()
    client.force_login(admin_user)

    response = client.get(f"/admin/chats/{model}/", {"q": "x"})

    assert response.status_code == 200


def test_admin_lists_keys_audit_and_usage_with_filters_and_search(
    admin_user: User, make_user: Any, make_key: Any
) -> None:
    from users.services import audit_record, usage_record

    member = make_user(email="member@example.com")
    key, raw = make_key(member, name="ci key")
    usage_record(user=member, api_key=key, model="llama3", prompt_tokens=3, completion_tokens=4)
    audit_record(actor=admin_user, action="user.update", target_type="user", target_id="x")
    client = Client()
    client.force_login(admin_user)

    pages = {
        "keys": client.get("/admin/users/apikey/", {"q": "member@"}),
        "revoked": client.get("/admin/users/apikey/", {"revoked_at__isnull": "True"}),
        "audit": client.get("/admin/users/auditlog/", {"action__exact": "user.update"}),
        "usage": client.get("/admin/users/usagerecord/", {"q": "llama3"}),
        "key page": client.get(f"/admin/users/apikey/{key.pk}/change/"),
        "settings": client.get("/admin/users/sitesettings/"),
    }

    assert {name: page.status_code for name, page in pages.items()} == dict.fromkeys(pages, 200)
    assert b"ci key" in pages["keys"].content
    assert key.prefix.encode() in pages["keys"].content
    assert b"llama3" in pages["usage"].content
    assert b"admin@example.com" in pages["audit"].content
    assert raw.encode() not in pages["key page"].content
    assert key.key_hash.encode() not in pages["key page"].content
    assert client.get("/admin/users/apikey/add/").status_code == 403
    assert client.get("/admin/users/auditlog/add/").status_code == 403


def change_form(user: User, **changes: Any) -> dict[str, Any]:
    data = {
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "profile_image_url": user.profile_image_url,
        "is_active": "on" if user.is_active else "",
        "daily_token_budget": "",
    }
    return {**data, **changes}


def test_django_admin_follows_the_role_rules_and_audits(
    admin_user: User, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    from users.models import AuditLog

    client = Client()
    client.force_login(admin_user)
    own_path = f"/admin/users/user/{admin_user.pk}/change/"

    own_role = client.post(own_path, change_form(admin_user, role="user"))
    last_admin = client.post(own_path, change_form(admin_user, is_active=""))
    with django_capture_on_commit_callbacks(execute=True):
        promoted = client.post(
            f"/admin/users/user/{owner.pk}/change/", change_form(owner, role="admin")
        )

    assert own_role.status_code == 200  # the form again, with the error
    assert b"You cannot change your own role" in own_role.content
    assert b"This is the last administrator" in last_admin.content
    admin_user.refresh_from_db()
    assert admin_user.role == "admin"
    assert admin_user.is_active
    assert promoted.status_code == 302
    entry = AuditLog.objects.get()
    assert entry.detail == {"email": owner.email, "from": "user", "to": "admin"}


def test_django_admin_deletes_through_the_service(
    admin_user: User, owner: User, django_capture_on_commit_callbacks: Any, eager_tasks: None
) -> None:
    from users.models import AuditLog

    client = Client()
    client.force_login(admin_user)

    own = client.get(f"/admin/users/user/{admin_user.pk}/delete/")
    with django_capture_on_commit_callbacks(execute=True):
        deleted = client.post(f"/admin/users/user/{owner.pk}/delete/", {"post": "yes"})

    assert own.status_code == 403
    assert deleted.status_code == 302
    assert not User.objects.filter(pk=owner.pk).exists()
    assert AuditLog.objects.filter(action="user.delete", target_id=str(owner.pk)).exists()
