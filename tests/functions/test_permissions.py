"""Who may create, change and run functions; another user's private function is 404 everywhere."""

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from functions import selectors, services
from functions.errors import FunctionNotFound, FunctionsRunForbidden
from functions.models import Function
from tests.functions.conftest import SEED_SOURCE, create_function
from users.models import User

pytestmark = pytest.mark.django_db

OPEN_TO_USERS = {"FUNCTIONS_USERS_CAN_EDIT": True, "FUNCTIONS_USERS_CAN_RUN": True}


@pytest.fixture
def users_may_use_functions(admin_client: APIClient) -> None:
    response = admin_client.post("/api/functions/config", OPEN_TO_USERS)
    assert response.status_code == 200, response.content


def test_by_default_only_admins_create_and_run(
    json_client: Callable[[User], APIClient], owner: User, admin_client: APIClient
) -> None:
    admin_fn = create_function(admin_client, "my_function", SEED_SOURCE, is_global=True)
    client = json_client(owner)

    create = client.post("/api/functions/create", {"name": "f", "content": "def f(): pass"})
    run = client.post(f"/api/functions/{admin_fn['id']}/test", {"args": {"param": "x"}})

    assert create.status_code == 403
    assert create.json()["code"] == "functions_edit_forbidden"
    assert run.status_code == 403
    assert run.json()["code"] == "functions_run_forbidden"
    assert Function.objects.count() == 1


def test_admins_decide_and_the_environment_gives_the_default(
    admin_client: APIClient, settings: Any
) -> None:
    settings.FUNCTIONS_USERS_CAN_RUN = True
    assert admin_client.get("/api/functions/config").json() == {
        "FUNCTIONS_USERS_CAN_EDIT": False,
        "FUNCTIONS_USERS_CAN_RUN": True,
    }

    response = admin_client.post("/api/functions/config", {"FUNCTIONS_USERS_CAN_EDIT": True})

    assert response.json() == {"FUNCTIONS_USERS_CAN_EDIT": True, "FUNCTIONS_USERS_CAN_RUN": True}
    settings.FUNCTIONS_USERS_CAN_RUN = False  # never saved by an admin: the environment decides
    assert admin_client.get("/api/functions/config").json()["FUNCTIONS_USERS_CAN_RUN"] is False


def test_config_is_admin_only(json_client: Callable[[User], APIClient], owner: User) -> None:
    client = json_client(owner)

    assert client.get("/api/functions/config").status_code == 403
    assert client.post("/api/functions/config", OPEN_TO_USERS).status_code == 403


ROUTES = [
    ("get", "/api/functions/{id}", None),
    ("delete", "/api/functions/{id}", None),
    ("post", "/api/functions/{id}/test", {"args": {"param": "x"}}),
    ("post", "/api/functions/update", {"id": "{id}", "content": "def my_function(): pass"}),
]


@pytest.mark.usefixtures("users_may_use_functions")
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_strangers_get_404_and_change_nothing(
    json_client: Callable[[User], APIClient],
    owner: User,
    stranger: User,
    method: str,
    path: str,
    body: dict | None,
) -> None:
    created = create_function(json_client(owner), "my_function", SEED_SOURCE)
    if body and body.get("id"):
        body = {**body, "id": created["id"]}

    response = getattr(json_client(stranger), method)(path.format(id=created["id"]), body)

    assert response.status_code == 404
    assert response.json() == {"detail": "Function not found.", "code": "function_not_found"}
    assert Function.objects.get().content == SEED_SOURCE
    assert json_client(stranger).get("/api/functions/").json() == []


@pytest.mark.usefixtures("users_may_use_functions")
def test_global_functions_are_seen_by_all_but_changed_by_admins_only(
    json_client: Callable[[User], APIClient], admin_client: APIClient, owner: User
) -> None:
    shared = create_function(admin_client, "my_function", SEED_SOURCE, is_global=True)
    client = json_client(owner)

    listed = client.get("/api/functions/").json()
    update = client.post("/api/functions/update", {"id": shared["id"], "is_active": False})
    delete = client.delete(f"/api/functions/{shared['id']}")

    assert [f["id"] for f in listed] == [shared["id"]]
    assert update.status_code == 403
    assert update.json()["code"] == "function_read_only"
    assert delete.status_code == 403
    assert Function.objects.get().is_active is True


@pytest.mark.usefixtures("users_may_use_functions")
def test_only_admins_make_functions_global(
    json_client: Callable[[User], APIClient], owner: User
) -> None:
    client = json_client(owner)
    created = create_function(client, "my_function", SEED_SOURCE)

    create = client.post(
        "/api/functions/create", {"name": "g", "content": "def g(): pass", "is_global": True}
    )
    update = client.post("/api/functions/update", {"id": created["id"], "is_global": True})

    assert create.status_code == 403
    assert create.json()["code"] == "global_function_admin_only"
    assert update.status_code == 403
    assert not Function.objects.filter(is_global=True).exists()


def test_admins_see_and_manage_every_function(
    users_may_use_functions: None,
    json_client: Callable[[User], APIClient],
    admin_client: APIClient,
    owner: User,
) -> None:
    created = create_function(json_client(owner), "my_function", SEED_SOURCE)

    assert [f["id"] for f in admin_client.get("/api/functions/").json()] == [created["id"]]
    assert admin_client.delete(f"/api/functions/{created['id']}").status_code == 204


def test_withdrawing_the_permission_stops_runs_and_edits(
    users_may_use_functions: None,
    json_client: Callable[[User], APIClient],
    admin_client: APIClient,
    owner: User,
) -> None:
    client = json_client(owner)
    created = create_function(client, "my_function", SEED_SOURCE)
    admin_client.post(
        "/api/functions/config",
        {"FUNCTIONS_USERS_CAN_EDIT": False, "FUNCTIONS_USERS_CAN_RUN": False},
    )

    run = client.post(f"/api/functions/{created['id']}/test", {"args": {"param": "x"}})
    edit = client.post("/api/functions/update", {"id": created["id"], "is_active": False})
    delete = client.delete(f"/api/functions/{created['id']}")

    assert (run.status_code, edit.status_code, delete.status_code) == (403, 403, 403)
    with pytest.raises(FunctionsRunForbidden):
        services.function_run(function=Function.objects.get(), args={"param": "x"}, user=owner)


def test_the_run_service_checks_visibility_itself(owner: User, stranger: User) -> None:
    function = services.function_create(
        user=User.objects.create_user("root@example.com", "x", role=User.Role.ADMIN),
        name="my_function",
        content=SEED_SOURCE,
    )

    with pytest.raises(FunctionNotFound):
        services.function_run(function=function, args={"param": "x"}, user=stranger)


def test_signed_out_is_401_and_pending_is_403(make_user: Callable[..., User]) -> None:
    pending = make_user(role=User.Role.PENDING)
    client = APIClient()

    assert client.get("/api/functions/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(pending)}")
    assert client.get("/api/functions/").json()["code"] == "account_pending"


@pytest.mark.parametrize("function_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_malformed_or_unknown_ids_are_404(admin_client: APIClient, function_id: str) -> None:
    assert admin_client.get(f"/api/functions/{function_id}").status_code == 404
    assert admin_client.post(f"/api/functions/{function_id}/test", {}).status_code == 404


# --- Tools for the completions' tool loop ----------------------------------------------------


def test_tools_for_user_offers_usable_functions_as_openai_tools(
    users_may_use_functions: None,
    json_client: Callable[[User], APIClient],
    admin_client: APIClient,
    owner: User,
) -> None:
    mine = create_function(json_client(owner), "my_function", SEED_SOURCE)
    shared = create_function(
        admin_client,
        "shout",
        'def shout(text: str):\n    """Shout it."""\n    return text',
        is_global=True,
    )
    off = create_function(json_client(owner), "off", "def off():\n    pass", is_active=False)

    tools = selectors.tools_for_user(user=owner, ids=[shared["id"], mine["id"], off["id"]])

    assert tools == [
        {
            "type": "function",
            "function": {
                "name": "shout",
                "description": "Shout it.",
                "parameters": shared["parameters"],
            },
        },
        {
            "type": "function",
            "function": {
                "name": "my_function",
                "description": "",
                "parameters": mine["parameters"],
            },
        },
    ]


def test_tools_for_user_refuses_what_the_user_may_not_use(
    users_may_use_functions: None,
    json_client: Callable[[User], APIClient],
    admin_client: APIClient,
    owner: User,
    stranger: User,
) -> None:
    private = create_function(json_client(owner), "my_function", SEED_SOURCE)

    with pytest.raises(FunctionNotFound):
        selectors.tools_for_user(user=stranger, ids=[private["id"]])
    admin_client.post("/api/functions/config", {"FUNCTIONS_USERS_CAN_RUN": False})
    with pytest.raises(FunctionsRunForbidden):
        selectors.tools_for_user(user=owner, ids=[private["id"]])
