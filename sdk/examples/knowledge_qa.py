"""Upload a file into a new collection, wait until it is indexed, ask a question from it.

WEBUI_API_KEY=sk-... python sdk/examples/knowledge_qa.py [file] [model]
"""

import sys
import tempfile
from pathlib import Path

from webui_client import KnowledgeClient

NOTE = "The Falcon project's launch code is 7421 and it ships on a Tuesday.\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1]:
        path = Path(sys.argv[1])
    else:
        path = Path(tempfile.mkdtemp()) / "falcon.txt"
        path.write_text(NOTE)
    model = sys.argv[2] if len(sys.argv) > 2 else "llama3"

    with KnowledgeClient() as knowledge:
        collection = knowledge.new_collection("Example collection", description="from the SDK")
        file = knowledge.upload_and_index(
            path,
            collection.id,
            on_progress=lambda job: print(f"  {job.state} {job.progress:.0%}"),
        )
        print(f"Indexed {file.filename} ({file.size} bytes) into {collection.name!r}.")

        for hit in knowledge.search("launch code", knowledge_ids=[collection.id]).results:
            print(f"  {hit.score:.2f} {hit.content[:70]!r}")

        chat = knowledge.chat  # the same connection pool
        answer = chat.complete(
            "What is the Falcon project's launch code?",
            model=model,
            knowledge_ids=[collection.id],
        )
        print(answer.text)
        for source in answer.sources or []:
            print(f"  source: {source['metadata']['filename']} (score {source['score']:.2f})")


if __name__ == "__main__":
    main()
