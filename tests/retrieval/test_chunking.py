"""Chunking by tokens of MiniLM's tokenizer, cut at paragraphs, then sentences."""

import itertools

from retrieval.chunking import chunks_of_page, chunks_of_pages
from retrieval.embedders import minilm_offsets


def tokens(text: str) -> int:
    return len(minilm_offsets(text))


def sentence(i: int) -> str:
    return f"Sentence number {i} talks about topic {i} in a few plain words."


def test_short_text_is_one_chunk_with_offsets() -> None:
    text = "  Hello there.  "
    [chunk] = chunks_of_page(text=text, page=3, offsets=minilm_offsets, size=50, overlap=5)
    assert chunk.text == "Hello there."
    assert (chunk.char_start, chunk.char_end, chunk.page) == (2, 14, 3)


def test_chunks_stay_within_size_and_overlap() -> None:
    text = " ".join(sentence(i) for i in range(60))
    chunks = chunks_of_page(text=text, page=None, offsets=minilm_offsets, size=64, overlap=16)

    assert len(chunks) > 5
    for chunk in chunks:
        assert tokens(chunk.text) <= 64
        assert text[chunk.char_start : chunk.char_end] == chunk.text
    for before, after in itertools.pairwise(chunks):
        assert after.char_start < before.char_end  # they overlap
        assert after.char_start > before.char_start
    assert chunks[-1].char_end == len(text)


def test_cuts_prefer_sentence_ends() -> None:
    text = " ".join(sentence(i) for i in range(40))
    chunks = chunks_of_page(text=text, page=None, offsets=minilm_offsets, size=64, overlap=16)
    assert all(c.text.endswith(".") for c in chunks)
    assert all(c.text.startswith("Sentence") for c in chunks)


def test_cuts_prefer_paragraphs_over_sentences() -> None:
    first = " ".join(sentence(i) for i in range(4))  # ~56 tokens: in the back half of 100
    second = " ".join(sentence(i) for i in range(4, 10))
    text = f"{first}\n\n{second}"
    chunks = chunks_of_page(text=text, page=None, offsets=minilm_offsets, size=100, overlap=0)
    assert chunks[0].text == first


def test_text_without_boundaries_is_split_by_tokens() -> None:
    text = "word " * 300
    chunks = chunks_of_page(text=text, page=None, offsets=minilm_offsets, size=100, overlap=10)
    assert [tokens(c.text) for c in chunks] == [100, 100, 100, 30]


def test_pages_keep_their_numbers_and_never_share_a_chunk() -> None:
    chunks = chunks_of_pages(
        pages=[("Page one text.", 1), ("", 2), ("Page three text.", 3)],
        offsets=minilm_offsets,
        size=50,
        overlap=5,
    )
    assert [(c.text, c.page) for c in chunks] == [("Page one text.", 1), ("Page three text.", 3)]


def test_whitespace_only_has_no_chunks() -> None:
    assert (
        chunks_of_page(text=" \n\n\t", page=None, offsets=minilm_offsets, size=50, overlap=5) == []
    )


def test_non_latin_text_keeps_offsets() -> None:
    text = "Ünïcödé façade — naïve café. 東京は日本の首都です。 Ελληνικά κείμενα."
    chunks = chunks_of_page(text=text, page=None, offsets=minilm_offsets, size=8, overlap=2)
    assert all(text[c.char_start : c.char_end] == c.text for c in chunks)
    assert chunks[0].char_start == 0
    assert chunks[-1].char_end == len(text)
