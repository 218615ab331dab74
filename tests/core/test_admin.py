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
