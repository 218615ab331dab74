"""Split pages of text into chunks of at most ``size`` tokens of the embedding model's tokenizer,
``overlap`` tokens shared by neighbours, cut preferably at paragraph, then sentence boundaries."""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# A tokenizer as chunking needs it: the (start, end) character offsets of each token of a text.
Offsets = Callable[[str], list[tuple[int, int]]]

_PARAGRAPH = re.compile(r"\n[ \t\r\f\v]*\n")
_SENTENCE_END = re.compile(r"[.!?\u3002\uff01\uff1f][\"')\]]*$")


@dataclass(frozen=True)
class PieceOfText:
    text: str
    page: int | None
    char_start: int  # offsets into the page's text
    char_end: int
    headings: tuple[str, ...] = ()  # the section's heading path, outermost first


def _boundary(text: str, previous_end: int, start: int, previous_token: str) -> int:
    """How good a cut before a token is: 2 paragraph, 1 sentence, 0 inside a sentence."""
    gap = text[previous_end:start]
    if _PARAGRAPH.search(gap) or gap.count("\n") >= 2:
        return 2
    if gap and _SENTENCE_END.search(previous_token):
        return 1
    if "\n" in gap:
        return 1  # a line break (list items, headings) is as good as a sentence end
    return 0


def chunks_of_page(
    *, text: str, page: int | None, offsets: Offsets, size: int, overlap: int
) -> list[PieceOfText]:
    """The chunks of one page's text, in order."""
    spans = [(s, e) for s, e in offsets(text) if e > s]
    if not spans:
        return []
    overlap = max(0, min(overlap, size // 2))
    scores = [0] + [
        _boundary(text, spans[i - 1][1], spans[i][0], text[spans[i - 1][0] : spans[i - 1][1]])
        for i in range(1, len(spans))
    ]
    out: list[PieceOfText] = []
    count = len(spans)
    start = 0
    while start < count:
        end = min(start + size, count)
        if end < count:
            # Cut at the best boundary in the back half of the window, the latest of the best.
            best, best_score = end, -1
            for i in range(end, start + max(1, size // 2), -1):
                if scores[i] > best_score:
                    best, best_score = i, scores[i]
                    if best_score == 2:
                        break
            end = best
        char_start, char_end = spans[start][0], spans[end - 1][1]
        out.append(PieceOfText(text[char_start:char_end], page, char_start, char_end))
        if end >= count:
            break
        # The next chunk starts ``overlap`` tokens back, at a sentence start if one is there.
        next_start = max(end - overlap, start + 1)
        for i in range(next_start, end):
            if scores[i] >= 1:
                next_start = i
                break
        start = next_start
    return out


def chunks_of_pages(
    *, pages: Sequence[tuple[str, int | None]], offsets: Offsets, size: int, overlap: int
) -> list[PieceOfText]:
    """The chunks of every page, in page order (a chunk never spans two pages)."""
    out: list[PieceOfText] = []
    for text, page in pages:
        out.extend(
            chunks_of_page(text=text, page=page, offsets=offsets, size=size, overlap=overlap)
        )
    return out


HEADING_SEPARATOR = " \u203a "  # a single right-pointing angle quotation mark


def heading_line(title: str, headings: Sequence[str], text: str) -> str:
    """What a chunk is about, put before its text for embedding and the lexical index:
    title, section, subsection joined by HEADING_SEPARATOR (the innermost heading left out when
    the chunk's text starts with it already); "" when there is nothing to say."""
    path = [part for part in (title, *headings) if part]
    if headings and text.lstrip("# \t").startswith(headings[-1]):
        path = path[:-1]
    return HEADING_SEPARATOR.join(path)


def chunks_of_sections(
    *,
    text: str,
    page: int | None,
    title: str,
    sections: Sequence[tuple[int, tuple[str, ...]]],
    offsets: Offsets,
    size: int,
    overlap: int,
) -> list[PieceOfText]:
    """The chunks of one page cut at its sections first (a chunk never spans two headings),
    each leaving room for its heading line (at most half the window)."""
    starts = sorted({0, *(start for start, _ in sections if 0 < start < len(text))})
    path_at = dict(sections)
    out: list[PieceOfText] = []
    path: tuple[str, ...] = ()
    for i, start in enumerate(starts):
        path = path_at.get(start, path if start else ())
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        line = HEADING_SEPARATOR.join(p for p in (title, *path) if p)
        room = max(size // 2, size - len(offsets(line)) - 1) if line else size
        for piece in chunks_of_page(
            text=text[start:end], page=page, offsets=offsets, size=room, overlap=overlap
        ):
            out.append(
                PieceOfText(
                    piece.text, page, start + piece.char_start, start + piece.char_end, path
                )
            )
    return out
