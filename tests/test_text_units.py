"""Unit tests of the text building blocks: VSMs, word vectors, ItemAttributeKNN, regressors, builders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from coldstart.pipelines.text import nodes
from coldstart.text import (
    ItemAttributeKNN,
    TagVectorizer,
    artist_documents,
    build_vocabulary,
    embedding_matrix,
    encode_sequences,
    load_word_vectors,
    make_regressor,
    tokenize,
    train_word2vec,
    user_play_profiles,
)

TFIDF = {"sublinear_tf": True, "max_df": 0.5, "max_features": 10000}


def _artists() -> pd.DataFrame:
    """6 artists, deliberately given out of item_idx order."""
    frame = pd.DataFrame(
        {
            "artist_id": ["A1", "A2", "A3", "A4", "A5", "A6"],
            "artist_name": list("abcdef"),
            "split": ["train", "train", "train", "train", "val", "test"],
            "biography": [
                "rock guitar loud band",
                "jazz saxophone smooth band",
                "rock drums loud stage",
                "jazz piano smooth club",
                "rock guitar jazz",
                "zyxtestonly rock guitar",
            ],
            "item_idx": [0, 1, 2, 3, 4, 5],
        }
    )
    return frame.iloc[[5, 2, 0, 4, 1, 3]].reset_index(drop=True)


def _tags() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "artist_id": ["A1", "A1", "A2", "A3", "A4", "A5", "A6", "A6"],
            "tag": ["Rock", "guitar", "jazz", "rock", "jazz", "rock", "rock", "test-only"],
            "weight": [100, 50, 100, 80, 100, 0, 100, 100],
        }
    )


# --------------------------------------------------------------------------- tf-idf


def test_tfidf_is_fitted_on_train_artists_only():
    features, vectorizer = nodes.build_text_features(
        _artists(), None, None, {"source": "biography", "tfidf": TFIDF}
    )
    vocabulary = vectorizer.vocabulary_
    assert "zyxtestonly" not in vocabulary  # only in the test biography
    # "band" is in 2 of 4 train bios (df 0.5: kept); "rock"/"jazz" likewise
    assert {"band", "rock", "jazz"} <= set(vocabulary)
    assert features.shape == (6, len(vocabulary))
    assert features.dtype == np.float32 and sp.isspmatrix_csr(features)
    # rows follow item_idx although the frame was shuffled: row 3 is A4 (jazz piano smooth club)
    row = features[3].toarray().ravel()
    assert row[vocabulary["piano"]] > 0 and row[vocabulary["rock"]] == 0


def test_tfidf_max_df_prunes_words_of_most_train_documents():
    artists = _artists()
    artists.loc[:, "biography"] = artists["biography"] + " common"
    _, vectorizer = nodes.build_text_features(
        artists, None, None, {"source": "biography", "tfidf": TFIDF}
    )
    assert "common" not in vectorizer.vocabulary_


def test_enriched_source_aligns_by_artist_id_and_falls_back():
    artists = _artists()
    enriched = pd.DataFrame(
        {"artist_id": ["A1", "A2", "A3"], "biography_enriched": ["x enrichedword", "y", "z"]}
    )
    docs = artist_documents(artists, enriched, "enriched")
    assert docs[0] == "x enrichedword"
    assert docs[3] == "jazz piano smooth club"  # no enriched text: the plain biography
    with pytest.raises(ValueError, match="source"):
        artist_documents(artists, enriched, "lyrics")


# --------------------------------------------------------------------------- tags


def test_tag_vectorizer_vocabulary_from_train_and_weightings():
    artists = _artists().sort_values("item_idx")
    ids = artists["artist_id"].to_numpy()
    train = ids[:4]
    binary = TagVectorizer(weighting="binary", norm=None).fit(train, _tags())
    assert set(binary.vocabulary_) == {"rock", "guitar", "jazz"}  # lower-cased, train only
    x = binary.transform(ids, _tags()).toarray()
    v = binary.vocabulary_
    assert x.shape == (6, 3)
    assert x[0, v["rock"]] == 1 and x[0, v["guitar"]] == 1 and x[0, v["jazz"]] == 0
    assert x[5].sum() == 1  # "test-only" is unknown

    weight = TagVectorizer(weighting="weight", norm=None).fit(train, _tags())
    assert weight.transform(ids, _tags()).toarray()[0, v["guitar"]] == pytest.approx(0.5)

    tfidf = TagVectorizer(weighting="tfidf", max_df=0.5).fit(train, _tags())
    y = tfidf.transform(ids, _tags()).toarray()
    np.testing.assert_allclose(np.linalg.norm(y[:5], axis=1), 1.0, rtol=1e-5)
    # a zero-weight tag still counts (tf floored at min_weight)
    assert y[4, tfidf.vocabulary_["rock"]] > 0


def test_tags_source_of_text_features():
    features, vectorizer = nodes.build_text_features(
        _artists(), None, _tags(), {"source": "tags", "tags": {"weighting": "binary"}}
    )
    assert isinstance(vectorizer, TagVectorizer)
    assert features.shape == (6, 3)


def test_a_list_of_sources_concatenates_their_vsms_with_weights():
    tags = {"weighting": "binary"}
    bio, _ = nodes.build_text_features(
        _artists(), None, _tags(), {"source": "biography", "tfidf": TFIDF}
    )
    tag, _ = nodes.build_text_features(_artists(), None, _tags(), {"source": "tags", "tags": tags})
    features, vectorizers = nodes.build_text_features(
        _artists(),
        None,
        _tags(),
        {"source": ["tags", "biography"], "weights": [1.0, 0.5], "tags": tags, "tfidf": TFIDF},
    )
    assert isinstance(vectorizers[0], TagVectorizer) and len(vectorizers) == 2
    assert features.shape == (6, tag.shape[1] + bio.shape[1])
    np.testing.assert_allclose(features[:, : tag.shape[1]].toarray(), tag.toarray())
    np.testing.assert_allclose(features[:, tag.shape[1] :].toarray(), 0.5 * bio.toarray())
    with pytest.raises(ValueError, match="weights"):
        nodes.build_text_features(
            _artists(), None, _tags(), {"source": ["tags", "biography"], "weights": [1.0]}
        )


def test_a_concatenated_vsms_vectorizers_round_trip_through_json():
    import json

    from coldstart.text.vectorizer_state import vectorizer_from_state, vectorizer_state

    features, vectorizers = nodes.build_text_features(
        _artists(), None, _tags(), {"source": ["tags", "biography"], "tfidf": TFIDF}
    )
    rebuilt = vectorizer_from_state(json.loads(json.dumps(vectorizer_state(vectorizers))))
    assert [type(v) for v in rebuilt] == [type(v) for v in vectorizers]
    assert rebuilt[0].vocabulary_ == vectorizers[0].vocabulary_
    assert rebuilt[1].vocabulary_ == vectorizers[1].vocabulary_


# --------------------------------------------------------------------------- word vectors


def test_vocabulary_and_sequences():
    tokens = [tokenize("The cat, the DOG!"), tokenize("the bird")]
    assert tokens[0] == ["the", "cat", "the", "dog"]
    vocabulary = build_vocabulary(tokens, min_count=1)
    assert vocabulary[:3] == ["<pad>", "<unk>", "the"]
    assert vocabulary[3:] == ["bird", "cat", "dog"]  # ties alphabetical
    assert build_vocabulary(tokens, min_count=2) == ["<pad>", "<unk>", "the"]
    seqs = encode_sequences([["the", "cat", "zebra"], ["the"] * 10], vocabulary, max_length=4)
    assert seqs.dtype == np.int32 and seqs.shape == (2, 4)
    assert seqs[0].tolist() == [2, 4, 1, 0]  # the, cat, <unk>, pad
    assert seqs[1].tolist() == [2, 2, 2, 2]  # truncated


def test_word2vec_is_reproducible():
    corpus = [["rock", "guitar", "loud", "band"] * 3, ["jazz", "piano", "smooth", "band"] * 3] * 5
    a = train_word2vec(corpus, vector_size=8, min_count=1, epochs=2, seed=3)
    b = train_word2vec(corpus, vector_size=8, min_count=1, epochs=2, seed=3)
    assert a.vector_size == 8
    np.testing.assert_array_equal(a["rock"], b["rock"])


@pytest.mark.parametrize("binary", [False, True])
def test_load_pretrained_vectors_and_embedding_matrix(tmp_path, binary):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=4)
    kv.add_vectors(["Rock", "jazz"], np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.float32))
    path = tmp_path / ("vectors.bin" if binary else "vectors.txt")
    kv.save_word2vec_format(str(path), binary=binary)
    loaded = load_word_vectors(path, binary="auto")
    matrix, coverage = embedding_matrix(["<pad>", "<unk>", "rock", "jazz", "polka"], loaded, seed=0)
    assert matrix.shape == (5, 4) and matrix.dtype == np.float32
    assert not matrix[0].any()  # padding
    np.testing.assert_array_equal(matrix[2], [1, 2, 3, 4])  # found as "Rock"
    np.testing.assert_array_equal(matrix[3], [5, 6, 7, 8])
    assert np.abs(matrix[4]).max() <= 0.25  # no vector: uniform(-0.25, 0.25)
    assert coverage == pytest.approx(2 / 3)
    with pytest.raises(FileNotFoundError, match="pretrained_vectors_path"):
        load_word_vectors(tmp_path / "missing.bin")


# --------------------------------------------------------------------------- ItemAttributeKNN


def test_item_attribute_knn_scores_the_most_similar_test_artist_highest():
    # train artists X (rock), Y (jazz), Z (folk); test artists: T1 tags == X's, T2 == Y's
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 1]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=np.float32))
    knn = ItemAttributeKNN(k=None).fit(train)
    item_vectors = knn.similarity(test)
    assert item_vectors.shape == (2, 3)
    np.testing.assert_allclose(item_vectors[0], [1.0, 0.0, 0.5], atol=1e-6)
    # users: u0 played X, u1 played Y (and Z, twice), plays on test columns are ignored
    plays = sp.csr_matrix(np.array([[3, 0, 0, 9, 0], [0, 1, 2, 0, 9]], dtype=np.float32))
    users = user_play_profiles(plays, np.array([0, 1, 2]), binary=True)
    assert sp.issparse(users) and users.dtype == np.float32
    np.testing.assert_array_equal(users.toarray(), [[1, 0, 0], [0, 1, 1]])
    scores = users @ item_vectors.T
    assert scores[0].argmax() == 0  # u0 (played X) ranks T1 (tags equal X's) first
    assert scores[1].argmax() == 1
    counts = user_play_profiles(plays, np.array([0, 1, 2]), binary=False)
    np.testing.assert_array_equal(counts.toarray(), [[3, 0, 0], [0, 1, 2]])


def test_item_attribute_knn_keeps_k_neighbours():
    train = sp.csr_matrix(np.eye(4, dtype=np.float32) + 0.1)
    knn = ItemAttributeKNN(k=2).fit(train)
    sims = knn.similarity(sp.csr_matrix(np.array([[1, 0.5, 0.2, 0]], dtype=np.float32)))
    assert (sims > 0).sum() == 2
    assert set(np.flatnonzero(sims[0])) == {0, 1}


def _binary(rows: list[set[str]], vocabulary: str = "abcde") -> sp.csr_matrix:
    return sp.csr_matrix(np.array([[t in r for t in vocabulary] for r in rows], dtype=np.float32))


def test_item_attribute_knn_scores_as_mymedialite_hand_computed():
    """MyMediaLite ItemKNN.Predict, k = 2: sum of the similarities of the neighbours
    the user played over the sum of all k neighbours' similarities (binary cosine)."""
    train = _binary([{"a", "b"}, {"c", "d"}, {"a", "d"}])  # X, Y, Z (played)
    # other items with tags but no plays: V (val), T1, T2, T3 (test)
    others = _binary([{"a", "b", "c"}, {"a", "b"}, {"c", "d"}, {"e"}])
    knn = ItemAttributeKNN(k=2).fit(train, others)
    vectors = knn.item_vectors(others[1:], other_index=np.array([1, 2, 3]))
    # T1 = {a, b}: sim X 2/sqrt(4) = 1, Y 0, Z 1/2, V 2/sqrt(6), T2 0 (itself excluded);
    # N_2 = {X, V}, normalisation 1 + 2/sqrt(6): only X is a played neighbour
    norm_t1 = 1 + 2 / np.sqrt(6)
    np.testing.assert_allclose(vectors[0], [1 / norm_t1, 0, 0], rtol=1e-6)
    # T2 = {c, d}: X 0, Y 1, Z 1/2, V 1/sqrt(6), T1 0: N_2 = {Y, Z}, normalisation 3/2
    np.testing.assert_allclose(vectors[1], [0, 2 / 3, 1 / 3], rtol=1e-6)
    # T3 = {e}: no similar item -> score 0 for everyone (MyMediaLite: sum == 0 -> 0)
    np.testing.assert_array_equal(vectors[2], 0.0)
    # users: u0 played X, u1 played Y and Z, u2 played Z only
    users = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 1], [0, 0, 1]], dtype=np.float32))
    scores = (users @ vectors.T).astype(np.float64)
    np.testing.assert_allclose(
        scores, [[1 / norm_t1, 0, 0], [0, 1, 0], [0, 1 / 3, 0]], rtol=1e-6, atol=1e-7
    )
    # train artists only as candidates: T1's N_2 = {X, Z}, normalisation 3/2
    train_only = ItemAttributeKNN(k=2).fit(train).item_vectors(others[1:2])
    np.testing.assert_allclose(train_only[0], [2 / 3, 0, 1 / 3], rtol=1e-6)
    # k unlimited: MyMediaLite's SumUp branch, no normalisation
    np.testing.assert_allclose(
        ItemAttributeKNN(k=None).fit(train, others).item_vectors(others[1:2], np.array([1]))[0],
        [1, 0, 0.5],
        rtol=1e-6,
    )


def test_item_attribute_knn_matches_mymedialite_predict_on_random_tags():
    """users @ item_vectors.T against a plain transcription of ItemKNN.Predict."""
    rng = np.random.default_rng(3)
    n_train, n_other, n_tags, k = 40, 40, 40, 7
    tags = (rng.random((n_train + n_other, n_tags)) < 0.3).astype(np.float32)
    train, others = sp.csr_matrix(tags[:n_train]), sp.csr_matrix(tags[n_train:])
    queries = np.arange(10, 40)  # the cold items scored: rows of `others`
    plays = (rng.random((30, n_train)) < 0.2).astype(np.float32)
    vectors = ItemAttributeKNN(k=k).fit(train, others).item_vectors(others[queries], queries)
    scores = plays @ vectors.T

    def cosine(x: np.ndarray, y: np.ndarray) -> float:
        size = x.sum() * y.sum()
        return float((x * y).sum() / np.sqrt(size)) if size > 0 else 0.0

    checked = 0
    for col, q in enumerate(queries):
        i = n_train + q
        candidates = [j for j in range(n_train + n_other) if j != i]
        sims = {j: cosine(tags[i], tags[j]) for j in candidates}
        ranked = sorted(candidates, key=lambda j: -sims[j])
        if abs(sims[ranked[k - 1]] - sims[ranked[k]]) < 1e-6:
            continue  # a tie at the k-th neighbour: float32 rounding may pick either side
        checked += 1
        neighbours = ranked[:k]
        normalization = sum(sims[j] for j in neighbours)
        for u in range(plays.shape[0]):
            total = sum(sims[j] for j in neighbours if j < n_train and plays[u, j] > 0)
            expected = 0.0 if total == 0 else total / normalization
            assert scores[u, col] == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert checked >= 5


def test_item_knn_nodes_use_train_columns_only():
    artists = _artists()
    features, _ = nodes.build_tag_features(
        artists, _tags(), {"source": "tags", "tags": {"weighting": "binary"}}
    )
    knn = nodes.fit_item_attribute_knn(features, artists, {"k": 80})
    assert knn.other_attributes_.shape[0] == 2  # val and test artists: neighbour candidates
    items = nodes.item_knn_item_factors(knn, features, artists)
    assert items.shape == (1, 4) and items.dtype == np.float32
    # the test artist A6 (rock, test-only) has every train artist as a neighbour (k = 80):
    # its kept train similarities over their sum plus that of the val artist A5 (rock)
    sims = knn.similarity(sp.csr_matrix(features)[[5]], other_index=np.array([1]))[0]
    val_sim = (sp.csr_matrix(features)[5] @ sp.csr_matrix(features)[4].T).toarray().item()
    np.testing.assert_allclose(items[0], sims / (sims.sum() + val_sim), rtol=1e-6)
    train_only = nodes.fit_item_attribute_knn(features, artists, {"k": 80, "neighbours": "train"})
    items_train = nodes.item_knn_item_factors(train_only, features, artists)
    np.testing.assert_allclose(items_train[0], sims / sims.sum(), rtol=1e-6)
    with pytest.raises(ValueError, match="neighbours"):
        nodes.fit_item_attribute_knn(features, artists, {"neighbours": "everything"})
    plays = sp.csr_matrix(np.arange(18, dtype=np.float32).reshape(3, 6))
    users = nodes.item_knn_user_factors(plays, artists, {"user_vectors": "counts"})
    np.testing.assert_array_equal(users.toarray(), plays.toarray()[:, :4])


# --------------------------------------------------------------------------- regressors


@pytest.mark.parametrize("kind", ["random_forest", "ridge"])
def test_text_regressor_nodes(kind):
    rng = np.random.default_rng(0)
    artists = pd.DataFrame(
        {
            "artist_id": [f"A{i:02d}" for i in range(30)],
            "split": ["train"] * 20 + ["val"] * 5 + ["test"] * 5,
            "biography": "",
            "item_idx": np.arange(30),
        }
    )
    # one feature per "genre"; factors = the genre's direction
    genre = np.arange(30) % 3
    features = sp.csr_matrix(np.eye(3, dtype=np.float32)[genre])
    directions = rng.normal(size=(3, 8)).astype(np.float32)
    factors = directions[genre] * rng.uniform(1, 3, size=(30, 1)).astype(np.float32)
    params = (
        {"kind": kind, "n_estimators": 5}
        if kind == "random_forest"
        else {"kind": kind, "alpha": 0.01}
    )
    model = nodes.train_text_regressor(features, artists, factors, params, seed=1)
    predicted = nodes.predict_regressor_factors(model, features, artists)
    assert predicted.shape == (5, 8) and predicted.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(predicted, axis=1), 1.0, rtol=1e-5)
    truth = directions[genre[25:]] / np.linalg.norm(directions[genre[25:]], axis=1, keepdims=True)
    assert (predicted * truth).sum(axis=1).min() > 0.99


def test_make_regressor_rejects_unknown():
    with pytest.raises(ValueError, match="kind"):
        make_regressor("svm")
    with pytest.raises(ValueError, match="does not take"):
        make_regressor("ridge", n_estimators=3)
    assert make_regressor("random_forest", seed=5, n_estimators=3).random_state == 5


# --------------------------------------------------------------------------- Keras builders


def test_text_ff_architecture_and_safe_reload(tmp_path):
    import keras

    from coldstart.models.text_models import EMBEDDING_LAYER, build_text_ff, layer_model

    model = build_text_ff(input_dim=50)  # the paper's sizes
    embedding = model.get_layer(EMBEDDING_LAYER)
    assert embedding.units == 2048 and embedding.activation.__name__ == "relu"
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [2048, 2048, 200]
    dropouts = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == [0.5, 0.5, 0.5]
    assert isinstance(model.layers[-1], keras.layers.UnitNormalization)
    assert layer_model(model).output_shape == (None, 2048)

    small = build_text_ff(input_dim=10, hidden_units=[8, 6], n_factors=4)
    assert small.get_layer(EMBEDDING_LAYER).units == 6
    path = tmp_path / "m.keras"
    small.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).random((3, 10)).astype(np.float32)
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), small.predict(x, verbose=0), rtol=1e-5
    )
    with pytest.raises(ValueError, match="dropout"):
        build_text_ff(input_dim=10, hidden_units=[8, 6], dropout=[0.5, 0.5])


def test_text_cnn_architecture_and_safe_reload(tmp_path):
    import keras

    from coldstart.models.text_models import WORD_EMBEDDING_LAYER, build_text_cnn

    weights = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    model = build_text_cnn(
        vocabulary_size=20,
        embedding_dim=6,
        sequence_length=12,
        n_filters=4,
        hidden_units=8,
        n_factors=5,
        embedding_weights=weights,
    )
    np.testing.assert_array_equal(model.get_layer(WORD_EMBEDDING_LAYER).get_weights()[0], weights)
    assert [model.get_layer(f"conv_{w}").kernel_size for w in (3, 4, 5)] == [(3,), (4,), (5,)]
    assert model.get_layer("concat").output.shape[-1] == 12  # 3 widths x 4 maps
    assert model.output_shape == (None, 5)
    path = tmp_path / "cnn.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    x = np.random.default_rng(1).integers(0, 20, size=(2, 12)).astype(np.int32)
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5
    )
    with pytest.raises(ValueError, match="widest filter"):
        build_text_cnn(vocabulary_size=5, embedding_dim=2, sequence_length=4)


def test_tag_vectorizer_lists_route_equals_the_table_route() -> None:
    """A served request's tags (parsed pairs) give the matrix the pipeline's table gives."""
    from coldstart.text.features import TagVectorizer

    rng = np.random.default_rng(3)
    vocabulary = [f"tag{i}" for i in range(12)]
    lists = [
        [
            (f" {rng.choice(vocabulary).upper()} ", float(rng.integers(0, 101)))
            for _ in range(int(rng.integers(0, 6)))
        ]
        + [("unknown", 50.0)]
        for _ in range(9)
    ]
    table = pd.DataFrame(
        [(f"a{i}", tag, weight) for i, pairs in enumerate(lists) for tag, weight in pairs],
        columns=["artist_id", "tag", "weight"],
    )
    ids = np.array([f"a{i}" for i in range(len(lists))])
    for weighting in ("tfidf", "binary", "weight"):
        fitted = TagVectorizer(weighting=weighting, max_df=1.0).fit(ids, table)
        np.testing.assert_array_equal(
            fitted.transform_lists(lists).toarray(), fitted.transform(ids, table).toarray()
        )
