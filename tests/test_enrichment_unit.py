"""semantic_enrichment building blocks: IRIs, terms, the offline linker, facts, cache, secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from coldstart.enrichment import (
    DiskCache,
    EmbeddedKnowledgeBase,
    EnrichmentConfig,
    InvalidIRIError,
    LabelLinker,
    Mention,
    Secret,
    SecretDataset,
    enrich_texts,
    entity_facts_query,
    entity_terms,
    fact_term,
    iri_term,
    link_artists,
    lookup_entities,
    make_cache,
    make_linker,
    open_knowledge_base,
    select_facts,
    validate_iri,
)
from coldstart.enrichment.config import EnrichmentConfigError
from coldstart.enrichment.linking import resolve_overlaps, split_text

FIXTURES = Path(__file__).parent / "fixtures" / "enrichment"
KB_TTL = FIXTURES / "knowledge_base.ttl"
DBR = "http://dbpedia.org/resource/"
SKLEARN_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern


# --------------------------------------------------------------------------- IRIs


@pytest.mark.parametrize(
    "iri",
    [
        DBR + "AC/DC",
        DBR + "Beyonc%C3%A9",
        DBR + "Beyoncé",
        DBR + "Guns_N'_Roses",
        DBR + "Sunn_O)))",
        DBR + "Category:Jazz_record_labels",
        "https://example.org/kb#Thing",
    ],
)
def test_real_world_iris_are_accepted(iri: str) -> None:
    assert validate_iri(iri) == iri


@pytest.mark.parametrize(
    "bad",
    [
        DBR + "Evil> } ; DROP ALL ; SELECT * { <http://x",
        DBR + 'Jazz" } UNION { ?s ?p ?o',
        DBR + "Jazz\n} UNION { ?s ?p ?o }",
        DBR + "Two words",
        DBR + "Tab\there",
        DBR + "Esc\\u003E } ; DROP ALL",  # SPARQL decodes \u escapes before parsing
        DBR + "Brace{x}",
        DBR + "Pipe|x",
        DBR + "Zero\u200bwidth",
        DBR + "Nbsp\u00a0x",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "Jazz",
        "",
        "http://",
        None,
        42,
        DBR + "x" * 3000,
    ],
)
def test_iris_that_could_change_a_query_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidIRIError):
        validate_iri(bad)
    with pytest.raises(InvalidIRIError):
        entity_facts_query([DBR + "Jazz", bad], ["MusicGenre"], ["genre"])


def test_query_text_contains_only_validated_iris() -> None:
    query = entity_facts_query([DBR + "AC/DC", DBR + "Jazz"], ["Band", "MusicGenre"], ["genre"])
    assert f"VALUES ?entity {{ <{DBR}AC/DC> <{DBR}Jazz> }}" in query
    assert "<http://purl.org/dc/terms/subject>" in query
    no_categories = entity_facts_query([DBR + "Jazz"], ["MusicGenre"], ["genre"], categories=False)
    assert "subject" not in no_categories
    with pytest.raises(ValueError):
        entity_facts_query([], ["MusicGenre"], ["genre"])


# --------------------------------------------------------------------------- terms


@pytest.mark.parametrize(
    ("iri", "term"),
    [
        (DBR + "Brindle_Hollow_Records", "dbr_Brindle_Hollow_Records"),
        (DBR + "Category:Jazz_record_labels", "dbc_Jazz_record_labels"),
        (DBR + "AC/DC", "dbr_AC_DC"),
        (DBR + "Guns_N'_Roses", "dbr_Guns_N_Roses"),
        (DBR + "Beyonc%C3%A9", "dbr_Beyoncé"),
        (DBR + "Sunn_O)))", "dbr_Sunn_O"),
        ("http://dbpedia.org/ontology/genre", "dbo_genre"),
        ("http://example.org/kb#Thing", "res_Thing"),
    ],
)
def test_iri_terms(iri: str, term: str) -> None:
    assert iri_term(iri) == term
    assert SKLEARN_TOKEN.findall(term) == [term]


def test_fact_terms_are_single_tokens() -> None:
    genre = "http://dbpedia.org/ontology/genre"
    assert fact_term(genre, DBR + "Jazz") == "dbo_genre__dbr_Jazz"
    assert fact_term(genre, "Free jazz (1960s)", "literal") == "dbo_genre__lit_Free_jazz_1960s"
    for term in (fact_term(genre, DBR + "AC/DC"), fact_term(genre, "?!", "literal")):
        assert SKLEARN_TOKEN.findall(term) == [term]


# --------------------------------------------------------------------------- offline linker


@pytest.fixture(scope="module")
def kb() -> EmbeddedKnowledgeBase:
    return EmbeddedKnowledgeBase(KB_TTL)


@pytest.fixture(scope="module")
def linker(kb: EmbeddedKnowledgeBase) -> LabelLinker:
    return make_linker(EnrichmentConfig.from_params({}), kb, None)


def test_label_linker_longest_match_case_and_punctuation(linker: LabelLinker) -> None:
    text = "mara quill & THE COPPER-OWLS met in new orleans; later: ac dc, Beyonce and Orleans."
    mentions = linker.link(text)
    found = [(m.surface, m.entity.removeprefix(DBR)) for m in mentions]
    assert found == [
        ("mara quill", "Mara_Quill"),
        ("THE COPPER-OWLS", "The_Copper_Owls"),  # longest label wins over "Copper Owls"
        ("new orleans", "New_Orleans"),  # not "Orleans" inside it
        ("ac dc", "AC/DC"),
        ("Beyonce", "Beyonc%C3%A9"),
        ("Orleans", "Orleans"),
    ]
    for m in mentions:
        assert text[m.start : m.end] == m.surface
        assert m.source == "LABEL" and m.synset_id is None and m.score == 1.0


def test_label_linker_respects_word_boundaries_and_short_labels() -> None:
    linker = LabelLinker({DBR + "Jazz": ["Jazz"], DBR + "U2": ["U2"], DBR + "X": ["X"]})
    assert linker.link("Jazzy tunes, no jazz-fusion") == [
        Mention(16, 20, "jazz", DBR + "Jazz", None, 1.0, "LABEL")
    ]
    assert linker.link("U2 and X") == []  # labels under min_label_chars are ignored


def test_label_linker_ambiguous_label_is_deterministic() -> None:
    linker = LabelLinker({DBR + "Bb": ["Mercury"], DBR + "Aa": ["Mercury"]})
    (mention,) = linker.link("Mercury rising")
    assert mention.entity == DBR + "Aa" and mention.score == 0.5
    assert linker.n_ambiguous_labels == 1


def test_label_linker_skips_unsafe_iris() -> None:
    linker = LabelLinker({DBR + "Ok": ["Okay Band"], DBR + "Bad> }": ["Bad Band"]})
    assert [m.entity for m in linker.link("Okay Band and Bad Band")] == [DBR + "Ok"]
    assert linker.stats["rejected_iris"] == 1


def test_overlaps_and_splitting() -> None:
    a = Mention(0, 11, "New Orleans", DBR + "New_Orleans", None, 0.9, "B")
    b = Mention(4, 11, "Orleans", DBR + "Orleans", None, 1.0, "B")
    c = Mention(12, 16, "Jazz", DBR + "Jazz", None, 1.0, "B")
    assert resolve_overlaps([c, b, a]) == [a, c]
    text = "One sentence here. Another one there. And a third."
    pieces = split_text(text, 20)
    assert "".join(p for _, p in pieces) == text
    assert all(len(p) <= 20 and text[o : o + len(p)] == p for o, p in pieces)
    assert split_text("", 10) == []


# --------------------------------------------------------------------------- facts and texts


def _artists() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "artist_id": ["AR2", "AR1", "AR3"],
            "artist_name": ["b", "a", "c"],
            "split": ["train", "train", "test"],
            "biography": [
                "Mara Quill signed with Brindle Hollow Records; Acme Corporation paid.",
                "Nothing known here.",
                None,
            ],
            "item_idx": [0, 1, 2],
        }
    )


def test_facts_follow_the_class_filter_and_properties(kb: EmbeddedKnowledgeBase) -> None:
    config = EnrichmentConfig.from_params({})
    entities = [DBR + e for e in ("Mara_Quill", "Night_Train_Suite", "Acme_Corporation", "Jazz")]
    rows, log = lookup_entities(
        entities,
        kb,
        make_cache(config, "knowledge_base", kb),
        classes=config.classes,
        properties=config.all_properties(),
        progress=False,
    )
    assert log["n_entities"] == 4 and log["complete"]
    facts = select_facts(rows, config.classes, config.properties)
    assert set(facts["entity"]) == {DBR + "Mara_Quill", DBR + "Night_Train_Suite", DBR + "Jazz"}
    work = facts[facts["entity"] == DBR + "Night_Train_Suite"]
    assert sorted(
        p.rsplit("/", 1)[1] for p in work.loc[work["kind"] == "property", "predicate"]
    ) == ["artist", "genre", "producer", "recordedIn", "writer"]  # dbo:releaseDate is not asked for
    jazz = entity_terms(DBR + "Jazz", facts[facts["entity"] == DBR + "Jazz"])
    assert jazz == [
        "dbr_Jazz",
        "dbo_instrument__dbr_Saxophone",
        "dbo_stylisticOrigin__dbr_Blues",
        "dbc_Jazz",
    ]  # properties in the order they are declared (instrument comes with the artists)
    with_objects = entity_terms(DBR + "Jazz", facts[facts["entity"] == DBR + "Jazz"], True)
    assert "dbr_Blues" in with_objects and "dbr_Saxophone" in with_objects


def test_facts_query_returns_the_rows_of_the_two_values_form(kb: EmbeddedKnowledgeBase) -> None:
    """The properties as a FILTER (what keeps look-ups off a scan of the whole store)
    select exactly the rows of the plain two-VALUES query."""
    from coldstart.enrichment.knowledge_base import ontology_iri, sparql_iri
    from coldstart.enrichment.terms import DCT_SUBJECT, RDF_TYPE

    config = EnrichmentConfig.from_params({})
    entities = [DBR + e for e in ("Mara_Quill", "Night_Train_Suite", "Acme_Corporation", "Jazz")]
    props = [RDF_TYPE] + [ontology_iri(p) for p in config.all_properties()] + [DCT_SUBJECT]
    classes = ", ".join(sparql_iri(ontology_iri(c)) for c in config.classes)
    reference = (
        "SELECT DISTINCT ?entity ?p ?o WHERE {\n"
        f"  VALUES ?entity {{ {' '.join(sparql_iri(e) for e in entities)} }}\n"
        f"  VALUES ?p {{ {' '.join(dict.fromkeys(sparql_iri(p) for p in props))} }}\n"
        "  ?entity ?p ?o .\n"
        f"  FILTER(?p != {sparql_iri(RDF_TYPE)} || ?o IN ({classes}))\n}}"
    )

    def triples(query: str) -> list[tuple[str, str, str]]:
        return sorted((r["entity"].value, r["p"].value, r["o"].value) for r in kb.select(query))

    expected = triples(reference)
    assert len(expected) > 10
    assert (
        triples(entity_facts_query(entities, config.classes, config.all_properties())) == expected
    )


def test_enrich_texts_appends_terms_in_input_order(
    kb: EmbeddedKnowledgeBase, linker: LabelLinker
) -> None:
    from coldstart.enrichment import NullCache

    config = EnrichmentConfig.from_params({})
    artists = _artists()
    mentions, _ = link_artists(artists, linker, NullCache(), progress=False)
    rows, _ = lookup_entities(
        mentions["entity"],
        kb,
        NullCache(),
        classes=config.classes,
        properties=config.all_properties(),
        progress=False,
    )
    facts = select_facts(rows, config.classes, config.properties)
    enriched = enrich_texts(artists, mentions, facts)
    assert enriched["artist_id"].tolist() == ["AR2", "AR1", "AR3"]
    assert enriched["n_entities"].tolist() == [2, 0, 0]
    first = enriched.loc[0, "biography_enriched"]
    assert first.startswith(artists.loc[0, "biography"] + " dbr_Mara_Quill ")
    appended = first[len(artists.loc[0, "biography"]) :].split()
    assert len(appended) == enriched.loc[0, "n_appended_terms"]
    assert "dbc_Jazz_record_labels" in appended and "dbo_genre__dbr_Jazz" in appended
    assert SKLEARN_TOKEN.findall(" ".join(appended)) == appended  # each term is one token
    assert enriched.loc[1, "biography_enriched"] == "Nothing known here."
    assert enriched.loc[2, "biography_enriched"] == ""


# --------------------------------------------------------------------------- cache, config, secrets


def test_disk_cache_roundtrip_and_corruption(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, "linking/x-1", {"name": "x"})
    assert cache.get("AR1") is None
    cache.put("AR1", {"mentions": [1, 2]})
    assert cache.get("AR1") == {"mentions": [1, 2]} and len(cache) == 1
    (path,) = cache.directory.glob("??/*.json")
    path.write_text("{truncated")
    assert cache.get("AR1") is None
    cache.put("AR1", {"mentions": []})
    assert cache.get("AR1") == {"mentions": []}
    assert not list(cache.directory.rglob(".tmp-*"))
    assert json.loads((cache.directory / "_config.json").read_text()) == {"name": "x"}


def test_config_checks() -> None:
    config = EnrichmentConfig.from_params({})
    assert config.linker == "offline" and config.knowledge_base == "embedded"
    assert "Engineer" in config.classes and "homeTown" in config.properties["Band"]
    with pytest.raises(EnrichmentConfigError, match="credentials"):
        EnrichmentConfig.from_params({"linker": {"babelfy": {"key": "oops"}}})
    with pytest.raises(EnrichmentConfigError, match="linker.type"):
        EnrichmentConfig.from_params({"linker": {"type": "spotlight"}})
    with pytest.raises(EnrichmentConfigError, match="not in `classes`"):
        EnrichmentConfig.from_params({"classes": ["Band"], "properties": {"Place": ["x"]}})
    with pytest.raises(EnrichmentConfigError, match="Bad class"):
        EnrichmentConfig.from_params({"classes": ["Band> }"]})


def test_missing_knowledge_base_file_message(tmp_path: Path) -> None:
    config = EnrichmentConfig.from_params({})
    with pytest.raises(FileNotFoundError, match="knowledge_base.type: sparql"):
        open_knowledge_base(config, tmp_path / "knowledge_base.ttl")


def test_secret_never_shows() -> None:
    secret = Secret("s3cr3t-key")
    assert secret.reveal() == "s3cr3t-key" and bool(secret)
    assert "s3cr3t" not in repr(secret) + str(secret) + f"{secret}"
    dataset = SecretDataset(credentials={"key": "s3cr3t-key"})
    assert dataset.load().reveal() == "s3cr3t-key"
    assert "s3cr3t" not in repr(dataset) + str(dataset._describe())
    assert not SecretDataset().load()
