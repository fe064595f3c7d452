"""Artist text features and the non-neural text baselines (plain code, no Kedro).

* :mod:`.features` -- artist documents (plain or enriched biography), the tf-idf
  vectoriser fitted on train artists, and :class:`TagVectorizer` (tag bags).
* :mod:`.word2vec` -- tokenisation, word2vec training (gensim), pretrained vector
  loading, vocabulary, embedding matrices and padded index sequences for the
  Kim (2014) CNN.
* :mod:`.knn` -- :class:`ItemAttributeKNN` (Gantner et al. 2010) and the user
  play profiles it is scored against.
* :mod:`.regressors` -- the scikit-learn regressors of the ``text_sklearn`` rows.

Heavy frameworks (scikit-learn, gensim) are imported inside the functions that use
them, so importing this package is cheap.
"""

from .features import TagVectorizer, artist_documents, fit_tfidf, order_by_item_idx, split_rows
from .knn import ItemAttributeKNN, user_play_profiles
from .regressors import make_regressor
from .word2vec import (
    build_vocabulary,
    embedding_matrix,
    encode_sequences,
    load_word_vectors,
    tokenize,
    train_word2vec,
)

__all__ = [
    "ItemAttributeKNN",
    "TagVectorizer",
    "artist_documents",
    "build_vocabulary",
    "embedding_matrix",
    "encode_sequences",
    "fit_tfidf",
    "load_word_vectors",
    "make_regressor",
    "order_by_item_idx",
    "split_rows",
    "tokenize",
    "train_word2vec",
    "user_play_profiles",
]
