"""Word vectors and index sequences for the Kim (2014) sentence CNN (rows a-w2v, a-w2v-goo).

The CNN's vocabulary is learned from the **train** artists' biographies: index 0
is padding (a zero vector), index 1 is the out-of-vocabulary token, the words
follow by decreasing train frequency. Its embedding layer is initialised from
word vectors: trained with gensim on the same corpus (a-w2v) or loaded from a
word2vec file (a-w2v-goo, e.g. GoogleNews-vectors-negative300.bin); a word with
no vector gets a random uniform(-0.25, 0.25) vector, as in Kim (2014).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

PAD = "<pad>"
OOV = "<unk>"
_TOKEN = re.compile(r"(?u)\b\w+\b")


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Word tokens (unicode ``\\w+`` runs), lower-cased by default."""
    text = text or ""
    return _TOKEN.findall(text.lower() if lowercase else text)


def train_word2vec(
    sentences: list[list[str]],
    *,
    vector_size: int = 300,
    window: int = 5,
    min_count: int = 2,
    sg: int = 1,
    negative: int = 5,
    epochs: int = 10,
    workers: int = 1,
    seed: int = 0,
    **kwargs: Any,
) -> Any:
    """Train gensim ``Word2Vec`` on tokenised documents; returns its ``KeyedVectors``.

    With ``workers=1`` (the default) the vectors are reproducible for a seed.
    """
    from gensim.models import Word2Vec

    sentences = [s for s in sentences if s]
    if not sentences:
        raise ValueError("word2vec needs at least one non-empty training document")
    model = Word2Vec(
        sentences=sentences,
        vector_size=int(vector_size),
        window=int(window),
        min_count=int(min_count),
        sg=int(sg),
        negative=int(negative),
        epochs=int(epochs),
        workers=int(workers),
        seed=int(seed),
        **kwargs,
    )
    logger.info(
        "word2vec trained on %d documents: %d words x %d dims",
        len(sentences),
        len(model.wv),
        model.wv.vector_size,
    )
    return model.wv


def load_word_vectors(
    path: str | Path, binary: bool | str = "auto", limit: int | None = None
) -> Any:
    """Pretrained vectors in word2vec format (``KeyedVectors.load_word2vec_format``).

    Parameters
    ----------
    path
        The file (``.bin``/``.bin.gz`` binary, otherwise text; gzip is fine).
    binary
        ``True``, ``False`` or ``"auto"`` (binary iff the name contains ``.bin``).
    limit
        Read only the first ``limit`` vectors (the most frequent words in the
        GoogleNews file): bounds memory for very large files.
    """
    from gensim.models import KeyedVectors

    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"Pretrained word vectors '{path}' do not exist: set `pretrained_vectors_path` in the "
            "row's `embeddings` parameters to a word2vec file (binary or text format)"
        )
    if binary == "auto":
        binary = ".bin" in path.name
    vectors = KeyedVectors.load_word2vec_format(
        str(path), binary=bool(binary), limit=int(limit) if limit else None
    )
    logger.info(
        "loaded %d pretrained word vectors (%d dims) from %s",
        len(vectors),
        vectors.vector_size,
        path,
    )
    return vectors


def build_vocabulary(
    token_lists: Iterable[list[str]], min_count: int = 1, max_size: int | None = None
) -> list[str]:
    """``[PAD, OOV, words...]``: words with count >= ``min_count``, most frequent first.

    Ties are broken alphabetically, so the vocabulary is deterministic.
    """
    counts = Counter(token for tokens in token_lists for token in tokens)
    words = sorted(
        (w for w, c in counts.items() if c >= min_count and w not in (PAD, OOV)),
        key=lambda w: (-counts[w], w),
    )
    if max_size is not None:
        words = words[: max(0, int(max_size))]
    return [PAD, OOV, *words]


def _lookup(vectors: Any, word: str) -> np.ndarray | None:
    for candidate in (word, word.capitalize(), word.upper()):
        if candidate in vectors.key_to_index:
            return vectors[candidate]
    return None


def embedding_matrix(
    vocabulary: list[str], vectors: Any, seed: int = 0, oov_scale: float = 0.25
) -> tuple[np.ndarray, float]:
    """The embedding layer's initial weights for ``vocabulary`` and the vector coverage.

    Row 0 (padding) is zero; a word without a vector (tried as is, capitalised and
    upper-cased, for case-sensitive files such as GoogleNews) gets uniform
    ``(-oov_scale, oov_scale)`` values.
    """
    dim = int(vectors.vector_size)
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(-oov_scale, oov_scale, size=(len(vocabulary), dim)).astype(np.float32)
    matrix[0] = 0.0
    found = 0
    for i, word in enumerate(vocabulary[2:], start=2):
        vector = _lookup(vectors, word)
        if vector is not None:
            matrix[i] = vector
            found += 1
    coverage = found / max(1, len(vocabulary) - 2)
    logger.info(
        "embedding matrix %d x %d: %.1f%% of the vocabulary has a word vector",
        matrix.shape[0],
        dim,
        100 * coverage,
    )
    return matrix, coverage


def encode_sequences(
    token_lists: Iterable[list[str]], vocabulary: list[str], max_length: int
) -> np.ndarray:
    """Padded int32 index sequences (n_docs x ``max_length``): first tokens kept, 0-padded."""
    index = {word: i for i, word in enumerate(vocabulary)}
    oov = index.get(OOV, 1)
    token_lists = list(token_lists)
    out = np.zeros((len(token_lists), int(max_length)), dtype=np.int32)
    for row, tokens in enumerate(token_lists):
        ids = [index.get(token, oov) for token in tokens[:max_length]]
        out[row, : len(ids)] = ids
    return out
