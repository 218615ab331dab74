"""AppClient / AsyncAppClient: the admin dashboard through the SDK, against a real server."""

import datetime as dt

import pytest
from webui_client import PermissionDeniedError, UsageReport

from tests.sdk.conftest import Both, key_of
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def test_dashboard_usage_and_fastgpt_chart(
    both: Both, sdk_server: str, admin_key: str, ann_key: str
) -> None:
    app = both.app(api_key=admin_key, base_url=sdk_server)
    chat = both.chat(api_key=ann_key, base_url=sdk_server)
    run = both.run
    created = run(
        app.create_model("Helper", "mock", id="helper", params={"system": "Hi."}, is_public=True)
    )
    run(chat.complete("one", model="mock", mock_chunks=2))
    run(chat.complete("two", model="helper", mock_chunks=3))
    today = dt.datetime.now(tz=dt.UTC).date()

    stats = run(app.stats())
    by_model = run(app.usage_report(start=today, end=today, group_by="model"))
    by_user = run(app.usage(group_by="user"))
    chart = run(app.get_app_logs_chart(today - dt.timedelta(days=6), today, appId="helper"))

    assert created.status_code == 201
    assert stats.json()["counts"]["users"]["total"] == 2
    assert isinstance(by_model, UsageReport)
    assert {r["model"]: r["completion_tokens"] for r in by_model.rows} == {
        "helper": 3,
        "mock": 2,
    }
    assert by_model.totals["requests"] == 2
    assert [r["email"] for r in by_user.json()["rows"]] == ["ann@example.com"]
    assert chart.json()["rows"] == [
        {
            "day": today.isoformat(),
            "requests": 1,
            "prompt_tokens": chart.json()["rows"][0]["prompt_tokens"],
            "completion_tokens": 3,
            "total_tokens": chart.json()["rows"][0]["prompt_tokens"] + 3,
        }
    ]


def test_admin_methods(both: Both, sdk_server: str, admin: User, admin_key: str) -> None:
    app = both.app(api_key=admin_key, base_url=sdk_server)
    run = both.run
    bob = User.objects.create_user(email="bob@example.com", password="x", name="Bob")

    users = run(app.list_users(query_text="bob"))
    one = run(app.get_user(str(bob.pk)))
    renamed = run(app.update_user(str(bob.pk), name="Robert"))
    promoted = run(app.set_user_role(str(bob.pk), "admin"))
    audit = run(app.audit(page=1, page_size=10, action="user.role_change"))
    models = run(app.list_models())
    made = run(app.create_model("Short", "mock", id="short"))
    model = run(app.get_model("short"))
    changed = run(app.update_model("short", name="Shorter"))
    connection = run(
        app.create_connection(name="spare", base_url="http://127.0.0.1:9/v1", api_key="sk-abcd1234")
    )
    connection_id = connection.json()["id"]
    connections = run(app.list_connections())
    edited = run(
        app.update_connection(
            connection_id, name="spare", base_url="http://127.0.0.1:9/v1", enabled=False
        )
    )
    settings = run(app.get_settings())
    set_back = run(app.update_settings(ENABLE_SIGNUP=False))
    key = run(app.create_api_key("ci", scope="completions"))
    keys = run(app.list_api_keys())

    assert [u["email"] for u in users.json()["users"]] == ["bob@example.com"]
    assert one.json()["name"] == "Bob"
    assert renamed.json()["name"] == "Robert"
    assert promoted.json()["role"] == "admin"
    assert audit.json()["total"] == 1
    assert "mock" in {m["id"] for m in models.json()["models"]}
    assert made.status_code == 201
    assert model.json()["id"] == "short"
    assert changed.json()["name"] == "Shorter"
    assert connection.status_code == 201
    assert connection.json()["api_key"].endswith("1234")
    assert "sk-abcd1234" not in connections.text
    assert edited.json()["enabled"] is False
    assert "ENABLE_SIGNUP" in settings.json()
    assert set_back.json()["ENABLE_SIGNUP"] is False
    assert key.json()["api_key"].startswith("sk-")
    assert any(k["name"] == "ci" for k in keys.json())

    assert (
        run(app.revoke_api_key(next(k["id"] for k in keys.json() if k["name"] == "ci"))).status_code
        == 204
    )
    assert run(app.delete_connection(connection_id)).status_code == 204
    assert run(app.delete_model("short")).status_code == 204
    assert run(app.delete_user(str(bob.pk))).status_code in (200, 204)


def test_base_client_and_non_admins(both: Both, sdk_server: str, ann: User) -> None:
    key = key_of(ann)
    app = both.app(api_key=key, base_url=sdk_server)
    run = both.run

    me = run(app.me())
    version = run(app.version())
    health = run(app.health())
    raw = run(app.request("GET", "/api/chats/", params={"limit": 1}))
    with pytest.raises(PermissionDeniedError):
        run(app.usage_report())

    assert me.json()["email"] == "ann@example.com"
    assert "version" in version.json()
    assert health.json()["status"] == "ok"
    assert raw.json() == []
    # The sub-clients share the pool of the client they come from.
    assert app.chat._http is app._http
    assert app.knowledge._http is app._http
    assert app.app.options == app.options
