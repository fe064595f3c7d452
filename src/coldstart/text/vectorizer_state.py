"""Fitted vectorisers as plain JSON: nothing in the file can run code when read.

A fitted scikit-learn ``TfidfVectorizer`` or :class:`TagVectorizer` is its
constructor arguments, its vocabulary and its idf vector. :func:`vectorizer_state`
turns one into a JSON-ready dict and :func:`vectorizer_from_state` rebuilds an
object that transforms exactly as the original did (tested). The release bundle
(:mod:`coldstart.releases.bundle`) ships vectorisers in this form, so serving a
model never unpickles anything.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coldstart.text.features import TagVectorizer

#: Constructor arguments that may hold code (callables) and so are refused.
_CALLABLE_ARGS = ("preprocessor", "tokenizer", "analyzer")


def _plain(value: Any) -> Any:
    if isinstance(value, type):  # dtype=np.float32
        return np.dtype(value).name
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, frozenset | set):
        return sorted(value)
    return value


def vectorizer_state(vectorizer: Any) -> dict[str, Any]:
    """The JSON-ready state of a fitted ``TfidfVectorizer`` or :class:`TagVectorizer`.

    Raises
    ------
    TypeError
        For another vectoriser type, or one configured with a callable
        (a custom tokenizer cannot be written as data).
    """
    if isinstance(vectorizer, list | tuple):  # a concatenated VSM's parts, in order
        return {"kind": "concatenation", "parts": [vectorizer_state(v) for v in vectorizer]}
    if isinstance(vectorizer, TagVectorizer):
        params = {
            "weighting": vectorizer.weighting,
            "sublinear_tf": vectorizer.sublinear_tf,
            "min_weight": vectorizer.min_weight,
            "max_df": vectorizer.max_df,
            "min_df": vectorizer.min_df,
            "max_features": vectorizer.max_features,
            "norm": vectorizer.norm,
        }
        kind = "tags"
    else:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not isinstance(vectorizer, TfidfVectorizer):
            raise TypeError(f"cannot write a {type(vectorizer).__name__} as JSON")
        params = {key: _plain(value) for key, value in vectorizer.get_params().items()}
        for key in _CALLABLE_ARGS:
            if callable(params.get(key)):
                raise TypeError(
                    f"TfidfVectorizer.{key} is a callable: it cannot be written as JSON"
                )
        kind = "tfidf"
    vocabulary = {str(term): int(index) for term, index in vectorizer.vocabulary_.items()}
    return {
        "kind": kind,
        "params": params,
        "vocabulary": vocabulary,
        "idf": np.asarray(vectorizer.idf_, dtype=np.float64).tolist(),
    }


def vectorizer_from_state(state: dict[str, Any]) -> Any:
    """Rebuild the vectoriser :func:`vectorizer_state` described.

    Raises
    ------
    ValueError
        When the state is not one this module wrote (unknown kind, vocabulary and
        idf of different lengths, indices that are not ``0..n-1``).
    """
    kind = state.get("kind")
    if kind == "concatenation":
        return [vectorizer_from_state(part) for part in state["parts"]]
    vocabulary = {str(term): int(index) for term, index in dict(state["vocabulary"]).items()}
    idf = np.asarray(state["idf"], dtype=np.float64)
    if len(idf) != len(vocabulary) or sorted(vocabulary.values()) != list(range(len(idf))):
        raise ValueError(
            f"vectorizer state: {len(vocabulary)} vocabulary entries do not index its {len(idf)} "
            "idf values as 0..n-1"
        )
    params = dict(state.get("params") or {})
    if kind == "tags":
        vectorizer = TagVectorizer(**params)
        vectorizer.vocabulary_ = vocabulary
        vectorizer.idf_ = idf.astype(np.float32)
        return vectorizer
    if kind != "tfidf":
        raise ValueError(f"vectorizer state: unknown kind {kind!r} (expected 'tfidf' or 'tags')")
    from sklearn.feature_extraction.text import TfidfVectorizer

    for key in _CALLABLE_ARGS:
        if key in params and params[key] not in (None, "word", "char", "char_wb"):
            raise ValueError(f"vectorizer state: {key}={params[key]!r} is not allowed")
    if isinstance(params.get("dtype"), str):
        params["dtype"] = np.dtype(params["dtype"]).type
    if isinstance(params.get("ngram_range"), list):
        params["ngram_range"] = tuple(params["ngram_range"])
    vectorizer = TfidfVectorizer(**params)
    vectorizer.vocabulary_ = vocabulary
    vectorizer.idf_ = idf
    return vectorizer
