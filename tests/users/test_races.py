"""Races between concurrent requests, each thread with its own database connection."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import signin
from tests.factories import PASSWORD
from tests.threads import run_together
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def test_racing_first_signups_make_exactly_one_admin() -> None:
    def sign_up(index: int) -> int:
        email = f"racer{index}@example.com"
        body = {"name": f"Racer {index}", "email": email, "password": PASSWORD}
        return APIClient().post("/api/auths/signup", body, format="json").status_code

    statuses = run_together(6, sign_up)

    assert statuses == [200] * 6
    assert User.objects.count() == 6
    assert User.objects.filter(role=User.Role.ADMIN).count() == 1


def test_racing_signups_with_one_email_create_one_account() -> None:
    def sign_up(index: int) -> int:
        body = {"name": f"Twin {index}", "email": "twin@example.com", "password": PASSWORD}
        return APIClient().post("/api/auths/signup", body, format="json").status_code

    statuses = run_together(4, sign_up)

    assert sorted(statuses) == [200, 409, 409, 409]
    assert User.objects.filter(email="twin@example.com").count() == 1


def test_racing_refreshes_of_one_token_let_exactly_one_win(owner: User) -> None:
    refresh_token = signin(APIClient(), owner.email)["refresh_token"]

    def refresh(index: int) -> int:
        body = {"refresh_token": refresh_token}
        return APIClient().post("/api/auths/refresh", body, format="json").status_code

    statuses = run_together(4, refresh)

    assert sorted(statuses) == [200, 401, 401, 401]


def test_two_admins_demoting_each_other_at_once_leave_one_admin(make_user: Any) -> None:
    first = make_user(role=User.Role.ADMIN, email="first-admin@example.com")
    second = make_user(role=User.Role.ADMIN, email="second-admin@example.com")
    tokens = [signin(APIClient(), first.email)["token"], signin(APIClient(), second.email)["token"]]
    targets = [second, first]

    def demote(index: int) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[index]}")
        path = f"/api/users/{targets[index].pk}/role"
        return client.post(path, {"role": "user"}, format="json").status_code

    statuses = run_together(2, demote)

    assert sorted(statuses) in ([200, 403], [200, 409])
    assert User.objects.filter(role=User.Role.ADMIN).count() == 1
