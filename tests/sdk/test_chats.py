"""ChatClient / AsyncChatClient: the chat history, against a real server (both clients)."""

import json
import uuid

import httpx
import pytest
from webui_client import Chat, Message, MessagePage, NotFoundError, Share

from chats.models import Chat as ChatRow
from tests.sdk.conftest import Both, key_of
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json() if response.content else {}


def test_chat_history_methods(both: Both, sdk_server: str, ann_key: str) -> None:
    chat = both.chat(api_key=ann_key, base_url=sdk_server)
    run = both.run

    created = ok(
        run(
            chat.create_chat(
                title="Trip",
                messages=[
                    {"id": "q1", "role": "user", "content": "Where to?"},
                    {"id": "a1", "role": "assistant", "content": "Lisbon."},
                ],
                tags=["travel"],
            )
        )
    )
    chat_id = created["id"]
    appended = ok(run(chat.append_message(chat_id, "user", "And then?", id="q2")), 201)
    edited = ok(run(chat.edit_message(chat_id, "q2", "And after that?")), 201)
    switched = ok(run(chat.switch_branch(chat_id, "q2")))
    renamed = ok(run(chat.rename_chat(chat_id, "Lisbon trip")))
    updated = ok(run(chat.update_chat(chat_id, folder_id="f1")))
    pinned = ok(run(chat.pin_chat(chat_id, True)))
    tagged = ok(run(chat.add_tag(chat_id, "Summer")))
    untagged = ok(run(chat.remove_tag(chat_id, "summer")))
    tags = ok(run(chat.list_tags()))
    listed = ok(run(chat.list_chats(pinned=True)))
    searched = ok(run(chat.list_chats(q="Lisbon")))
    messages = ok(run(chat.list_messages(chat_id, offset=1, limit=1)))
    got = ok(run(chat.get_chat(chat_id)))

    assert appended["parent_id"] == "a1"
    assert edited["parent_id"] == "a1"
    assert edited["content"] == "And after that?"
    assert switched["chat"]["history"]["current_id"] == "q2"
    assert renamed["title"] == "Lisbon trip"
    assert updated["folder_id"] == "f1"
    assert pinned["pinned"] is True
    assert tagged["tags"] == ["Summer", "travel"]
    assert untagged["tags"] == ["travel"]
    assert tags == [{"name": "travel"}]
    assert [c["id"] for c in listed] == [chat_id] == [c["id"] for c in searched]
    assert [m["id"] for m in messages["messages"]] == ["a1"]
    assert messages["total"] == 3
    assert [m["id"] for m in got["chat"]["messages"]] == ["q1", "a1", "q2"]

    archived = ok(run(chat.archive_chat(chat_id)))
    assert archived["archived"] is True
    assert ok(run(chat.list_chats())) == []
    assert ok(run(chat.archive_chat(chat_id, False)))["archived"] is False

    clone = ok(run(chat.clone_chat(chat_id)))
    share = ok(run(chat.share_chat(chat_id, require_auth=False, expires_in=3600)))
    shared = ok(run(chat.get_shared_chat(share["share_id"])))
    from_share = ok(run(chat.clone_shared_chat(share["share_id"])))
    assert clone["title"] == "Clone of Lisbon trip"
    assert shared["title"] == "Lisbon trip"
    assert from_share["id"] not in (chat_id, clone["id"])
    ok(run(chat.unshare_chat(chat_id)), 204)
    assert run(chat.get_shared_chat(share["share_id"])).status_code == 404

    exported = ok(run(chat.export_chats()))
    assert exported["format"] == "webui-backend.chats"
    assert len(exported["chats"]) == 3
    ok(run(chat.delete_message(chat_id, "q2")), 204)
    ok(run(chat.delete_chat(clone["id"])), 204)
    assert ok(run(chat.archive_all_chats())) == {"archived": 2}
    ok(run(chat.clear_chat_histories()), 204)
    assert ChatRow.objects.count() == 0
    imported = ok(run(chat.import_chats(exported)))
    assert len(imported) == 3
    ok(run(chat.delete_all_chats()), 204)
    assert ChatRow.objects.count() == 0


def test_typed_helpers(both: Both, sdk_server: str, ann_key: str) -> None:
    chat = both.chat(api_key=ann_key, base_url=sdk_server)
    run = both.run

    started = run(chat.start_chat(title="Typed", messages=[{"role": "user", "content": "hi"}]))
    reply = run(chat.add_message(started.id, "assistant", "hello", id="r1"))
    rated = run(chat.rate_message(started.id, "r1", -1, "too short"))
    page = run(chat.fetch_messages(started.id))
    fetched = run(chat.fetch_chat(started.id))
    listed = run(chat.fetch_chats())
    share = run(chat.share(started.id))

    assert isinstance(started, Chat)
    assert started.title == "Typed"
    assert isinstance(reply, Message)
    assert reply.parent_id == started.messages[0].id
    assert rated.feedback is not None
    assert rated.feedback["rating"] == -1
    assert isinstance(page, MessagePage)
    assert page.total == 2
    assert [m.text for m in fetched.messages] == ["hi", "hello"]
    assert fetched.messages[1].feedback == rated.feedback
    assert [c.id for c in listed] == [started.id]
    assert isinstance(share, Share)
    assert share.url.endswith(share.share_id)
    with pytest.raises(NotFoundError) as caught:
        run(chat.fetch_chat(str(uuid.uuid4())))
    assert caught.value.code == "chat_not_found"


def test_fastgpt_names(both: Both, sdk_server: str, ann: User, ann_key: str) -> None:
    """Code written for FastGPT's SDK: its chatId strings, records, feedback, deletes."""
    chat = both.chat(api_key=ann_key, base_url=sdk_server)
    run = both.run

    answer = ok(
        run(
            chat.create_chat_completion(
                [{"role": "user", "content": "q"}], chatId="111", model="mock"
            )
        )
    )
    records = ok(run(chat.get_chat_records("111", offset=0, pageSize=10)))
    init = ok(run(chat.get_chat_init("111")))
    histories = ok(run(chat.get_chat_histories(offset=0, pageSize=20)))
    reply_id = answer["responseChatItemId"]
    good = ok(run(chat.send_feedback("111", reply_id, userGoodFeedback="yes")))
    bad = ok(run(chat.send_feedback("111", reply_id, userBadFeedback="made up")))
    cleared = ok(run(chat.send_feedback("111", reply_id)))
    titled = ok(run(chat.update_chat_history("111", customTitle="Renamed", top=True)))

    assert answer["chat_id"] == init["id"] == histories[0]["id"]
    assert [m["role"] for m in records["messages"]] == ["user", "assistant"]
    assert good["feedback"]["rating"] == 1
    assert good["feedback"]["comment"] == ""
    assert bad["feedback"] == {**bad["feedback"], "rating": -1, "comment": "made up"}
    assert "feedback" not in cleared
    assert titled["title"] == "Renamed"
    assert titled["pinned"] is True
    with pytest.raises(ValueError, match="multiple"):
        run(chat.get_chat_histories(offset=5, pageSize=20))

    ok(run(chat.delete_chat_record("111", records["messages"][1]["id"])), 204)
    assert ok(run(chat.get_chat_records("111")))["total"] == 1
    ok(run(chat.delete_chat_history("111")), 204)
    assert run(chat.get_chat_init("111")).status_code == 404


def test_another_users_chat_is_not_found(both: Both, sdk_server: str, ann_key: str) -> None:
    stranger = User.objects.create_user(email="sam@example.com", password="x", name="Sam")
    mine = both.chat(api_key=ann_key, base_url=sdk_server)
    theirs = both.chat(api_key=key_of(stranger), base_url=sdk_server)
    run = both.run
    chat = run(mine.start_chat(messages=[{"role": "assistant", "content": "a", "id": "a"}]))

    answers = [
        run(theirs.get_chat(chat.id)),
        run(theirs.set_feedback(chat.id, "a", 1)),
        run(theirs.delete_message(chat.id, "a")),
        run(theirs.list_messages(chat.id)),
    ]

    assert [r.status_code for r in answers] == [404] * 4
    assert {json.loads(r.content)["code"] for r in answers} == {"chat_not_found"}
    assert run(mine.fetch_chat(chat.id)).messages[0].feedback is None


def first_event(both: Both, response: httpx.Response) -> dict:
    """The first event of an open SSE response: its id, name and data."""

    def take(lines: list[str]) -> dict:
        event = {}
        for line in lines:
            name, _, value = line.partition(": ")
            event[name] = value
        return event

    async def read_async() -> list[str]:
        lines: list[str] = []
        async for line in response.aiter_lines():
            if line == "" and any(x.startswith("data: ") for x in lines):
                return lines
            if line and not line.startswith(("retry:", ":")):
                lines.append(line)
        return lines

    if both.is_async:
        lines = both.run(read_async())
        both.run(response.aclose())
        return take(lines)
    lines = []
    for line in response.iter_lines():
        if line == "" and any(x.startswith("data: ") for x in lines):
            break
        if line and not line.startswith(("retry:", ":")):
            lines.append(line)
    response.close()
    return take(lines)


def test_chat_events_replay_after_an_id(both: Both, sdk_server: str, ann_key: str) -> None:
    chat = both.chat(api_key=ann_key, base_url=sdk_server)
    started = both.run(chat.start_chat())
    for text in ("one", "two"):
        both.run(chat.append_message(started.id, "user", text))

    from_start = first_event(both, both.run(chat.chat_events(started.id, last_event_id=0)))
    after_one = first_event(both, both.run(chat.chat_events(started.id, last_event_id=1)))

    assert from_start["id"] == "1"
    assert from_start["event"] == "message"
    assert json.loads(from_start["data"])["message"]["content"] == "one"
    assert after_one["id"] == "2"
    assert json.loads(after_one["data"])["message"]["content"] == "two"
