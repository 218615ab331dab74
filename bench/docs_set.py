"""A labelled retrieval set built from real documentation no one here wrote: the FAQs of three
software manuals, each question labelled with the manual pages its answer links to.

    .venv/bin/python bench/docs_set.py [--out DIR]      # build (or rebuild) and print a summary

Sources (Debian packages, installed with ``apt-get install python3.11-doc python-django-doc
sqlite3-doc``; licences: PSF, BSD, public domain):

- ``python``: /usr/share/doc/python3.11/html, questions = the ``<h3>`` headings of faq/*.html;
- ``django``: /usr/share/doc/python-django-doc/html, questions = the ``<h2>`` of faq/*.html;
- ``sqlite``: /usr/share/doc/sqlite3, questions = the numbered ``(N) ...`` entries of faq.html.

A question's labels are the pages of the same manual that its answer links to (anchors dropped;
the FAQ pages themselves, indexes and tables of contents left out). Questions whose answers link
to no such page are dropped: their answer lives only in the FAQ, which is not in the corpus.
Pages of more than ``LABELLED_MAX_CHARS`` characters of visible text (a
few long API references) are left out with the labels that point to them, to keep one run of
the set within minutes on two cores. The corpus is every labelled page plus other pages of the
same manuals as distractors (chosen by a stable hash, pages of at most
``DISTRACTOR_MAX_CHARS`` characters of text), until ``DOCUMENTS`` pages. The HTML is copied
as it ships (navigation and all), as a user would upload it. Nothing is edited by hand; the
build is deterministic.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import posixpath
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = Path(tempfile.gettempdir()) / "webui-docs-set"
DOCUMENTS = 200
LABELLED_MAX_CHARS = 50_000  # longer pages (a few API references) stay out, with their labels
DISTRACTOR_MAX_CHARS = 15_000

DOC = Path("/usr/share/doc")
# manual: (its HTML root, the Debian package, its FAQ pages, the heading levels of questions)
MANUALS = {
    "python": (DOC / "python3.11/html", "python3.11-doc", "faq/*.html", ("h3",)),
    "django": (DOC / "python-django-doc/html", "python-django-doc", "faq/*.html", ("h2",)),
    "sqlite": (DOC / "sqlite3", "sqlite3-doc", "faq.html", ()),
    "sqlalchemy": (
        DOC / "python-sqlalchemy-doc/html",
        "python-sqlalchemy-doc",
        "faq/*.html",
        ("h2", "h3"),
    ),
    "celery": (DOC / "python-celery-doc/html", "python-celery-doc", "faq.html", ("h3",)),
    "scrapy": (DOC / "python-scrapy-doc/html", "python-scrapy-doc", "faq.html", ("h2",)),
}
# Pages that are never documents: the FAQ (the questions), indexes, search, changelogs.
EXCLUDED = re.compile(
    r"(^|/)(faq/|faq\.html|genindex|py-modindex|search\.html|contents\.html|index\.html|"
    r"copyright|license|bugs\.html|about\.html|whatsnew/|releases/|releaselog/|changes\.html|"
    r"changelog|history/|_)"
)
_TAG = re.compile(r"<[^>]+>")
_HREF = re.compile(r'href="([^"#:]+\.html)(?:#[^"]*)?"')


@dataclass(frozen=True)
class Question:
    question: str
    source: str  # the manual
    faq_page: str
    labels: list[str]  # document names: "<manual>/<path inside the manual>"


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(_TAG.sub(" ", fragment))).replace("¶", "").strip()


def visible_chars(page: str) -> int:
    body = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", page)
    return len(text_of(body))


def _links(manual: str, root: Path, page: Path, fragment: str) -> list[str]:
    base = posixpath.dirname(page.relative_to(root).as_posix())
    out: list[str] = []
    for href in _HREF.findall(fragment):
        target = posixpath.normpath(posixpath.join(base, href))
        if target.startswith("..") or EXCLUDED.search(target) or not (root / target).is_file():
            continue
        name = f"{manual}/{target}"
        if name not in out:
            out.append(name)
    return out


def _sections(page: str, headings: tuple[str, ...]) -> list[tuple[str, str]]:
    """(heading text, the HTML after it up to the next heading of any level) of a Sphinx page's
    main body."""
    body = page.split('role="main"', 1)[-1]
    body = re.split(r'<div class="sphinxsidebar"|<footer', body, maxsplit=1)[0]
    parts = re.split(r"(?is)(<h[1-6][^>]*>.*?</h[1-6]>)", body)
    out = []
    for i in range(1, len(parts), 2):
        if parts[i].lower()[:3] in {f"<{h}" for h in headings}:
            out.append((text_of(parts[i]), parts[i + 1] if i + 1 < len(parts) else ""))
    return out


def questions_of(manual: str) -> list[Question]:
    root, _, pattern, headings = MANUALS[manual]
    out: list[Question] = []
    if manual == "sqlite":
        page_path = root / "faq.html"
        page = page_path.read_text(errors="replace")
        entries = re.split(r'<a name="q\d+"></a>', page)[1:]
        for entry in entries:
            match = re.match(r"\s*<p><b>\(\d+\)\s*(.*?)</b></p>", entry, re.S)
            if not match:
                continue
            answer = entry[match.end() :]
            labels = _links(manual, root, page_path, answer)
            if labels:
                out.append(Question(text_of(match.group(1)), manual, "faq.html", labels))
        return out
    for page_path in sorted(root.glob(pattern)):
        if page_path.name == "index.html":
            continue
        page = page_path.read_text(errors="replace")
        for question, answer in _sections(page, headings):
            labels = _links(manual, root, page_path, answer)
            if labels and len(question) > 10:
                rel = page_path.relative_to(root).as_posix()
                out.append(Question(question, manual, rel, labels))
    return out


def _stable(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def build(out: Path, documents: int = DOCUMENTS) -> dict:
    missing = [pkg for root, pkg, *_ in MANUALS.values() if not root.is_dir()]
    if missing:
        raise SystemExit(f"install the documentation first: apt-get install {' '.join(missing)}")
    questions: list[Question] = []
    for manual in MANUALS:
        questions.extend(questions_of(manual))
    sizes = {}
    for name in {label for q in questions for label in q.labels}:
        manual, rel = name.split("/", 1)
        sizes[name] = visible_chars((MANUALS[manual][0] / rel).read_text(errors="replace"))
    questions = [
        Question(q.question, q.source, q.faq_page, kept)
        for q in questions
        if (kept := [label for label in q.labels if sizes[label] <= LABELLED_MAX_CHARS])
    ]
    labelled = sorted({label for q in questions for label in q.labels})
    candidates = []
    for manual, (root, *_) in MANUALS.items():
        for path in root.rglob("*.html"):
            rel = path.relative_to(root).as_posix()
            name = f"{manual}/{rel}"
            if EXCLUDED.search(rel) or name in labelled:
                continue
            candidates.append(name)
    chosen = list(labelled)
    for name in sorted(candidates, key=_stable):
        if len(chosen) >= documents:
            break
        manual, rel = name.split("/", 1)
        if visible_chars((MANUALS[manual][0] / rel).read_text(errors="replace")) <= (
            DISTRACTOR_MAX_CHARS
        ):
            chosen.append(name)
    if out.exists():
        shutil.rmtree(out)
    chars = 0
    for name in chosen:
        manual, rel = name.split("/", 1)
        target = out / "docs" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        data = (MANUALS[manual][0] / rel).read_bytes()
        target.write_bytes(data)
        chars += visible_chars(data.decode(errors="replace"))
    summary = {
        "documents": sorted(chosen),
        "labelled_documents": len(labelled),
        "visible_chars": chars,
        "questions": [asdict(q) for q in questions],
    }
    (out / "set.json").write_text(json.dumps(summary, indent=1))
    return summary


def load(out: Path = DEFAULT_OUT) -> dict:
    """The set, built first if it is not there yet."""
    if not (out / "set.json").is_file():
        build(out)
    return json.loads((out / "set.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--documents", type=int, default=DOCUMENTS)
    args = parser.parse_args()
    summary = build(args.out, args.documents)
    by_source: dict[str, int] = {}
    for q in summary["questions"]:
        by_source[q["source"]] = by_source.get(q["source"], 0) + 1
    print(
        f"{len(summary['questions'])} questions {by_source}, {len(summary['documents'])} documents "
        f"({summary['labelled_documents']} labelled), {summary['visible_chars'] / 1e6:.2f} M chars "
        f"of visible text, in {args.out}"
    )


if __name__ == "__main__":
    main()
