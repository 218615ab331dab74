"""A conversation kept on the server: two streamed turns, the history read back, a rating.

WEBUI_API_KEY=sk-... python sdk/examples/chat.py [model]
"""

import sys
import uuid

from webui_client import ChatClient


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else "llama3"
    chat_id = str(uuid.uuid4())
    with ChatClient() as chat:  # WEBUI_API_KEY and WEBUI_BASE_URL
        for question in ("Name three rivers of Europe.", "Which of them is the longest?"):
            print(f"> {question}")
            # Only the new message is sent: the server keeps the history of chat_id. With
            # resume=True a dropped connection is picked up from the chat's events.
            with chat.stream(question, model=model, chat_id=chat_id, resume=True) as stream:
                for chunk in stream:
                    print(chunk.text, end="", flush=True)
            print(f"\n  ({stream.usage})")

        saved = chat.fetch_chat(chat_id)
        print(f"The server kept {len(saved.messages)} messages in {saved.title!r}.")
        last = saved.messages[-1]
        rated = chat.rate_message(chat_id, last.id, 1, "good answer")
        print(f"Rated the last answer: {rated.feedback}")


if __name__ == "__main__":
    main()
