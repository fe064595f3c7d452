"""The named world and its DBpedia-style knowledge base.

:func:`build_catalog` gives every artist of the taste space a name, a hometown, a
record label, band members or an instrument, associated artists, influences
("legends" of its genre that are not in the dataset) and albums with producers and
studios. :func:`kb_entities` turns the part of that world that "has a Wikipedia
page" into resources, and :func:`to_turtle` writes them in the vocabulary of
``docs/architecture.md``.

Genre evidence is spread on purpose: a label, a producer, a legend or a band
member's KB resource states a genre (``dbo:genre``, ``dct:subject`` such as
``Category:Jazz_record_labels``) that the biography which mentions it need not state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import WorldConfig
from .genres import INSTRUMENTS, GenreSpec
from .names import NameFactory
from .taste import Taste

DBR = "http://dbpedia.org/resource/"
DBO = "http://dbpedia.org/ontology/"

BAND_RATE = {
    "rock": 0.8,
    "metal": 0.9,
    "punk": 0.9,
    "jazz": 0.5,
    "hip hop": 0.35,
    "electronic": 0.3,
    "folk": 0.4,
    "classical": 0.4,
    "reggae": 0.5,
    "blues": 0.3,
    "country": 0.35,
    "soul": 0.4,
    "pop": 0.4,
    "funk": 0.7,
}


BIO_MODES = ("explicit", "implicit", "vague")


def bio_mode_p(cfg: WorldConfig) -> tuple[float, float, float]:
    """Probabilities of the explicit / implicit / vague biography modes."""
    return (
        cfg.explicit_bio_rate,
        cfg.implicit_bio_rate,
        1.0 - cfg.explicit_bio_rate - cfg.implicit_bio_rate,
    )


def resource_name(label: str) -> str:
    """DBpedia resource local name of a label: spaces to underscores."""
    return label.replace(" ", "_")


@dataclass
class Work:
    title: str
    year: int
    producer: int  # index into Catalog.producers
    studio: int  # index into Catalog.places
    label: int


@dataclass
class ArtistInfo:
    idx: int
    name: str
    is_band: bool
    genre: int
    substyle: int
    cross: int
    hometown: int
    label: int
    formed: int
    members: list[tuple[str, str, int]] = field(
        default_factory=list
    )  # name, instrument, birthplace
    former: list[tuple[str, str, int]] = field(default_factory=list)
    instrument: str = ""
    pronoun: str = "they"
    associates: list[int] = field(default_factory=list)  # dataset artist indices
    legends: list[int] = field(default_factory=list)  # indices into Catalog.legends
    works: list[Work] = field(default_factory=list)
    in_kb: bool = False
    bio_mode: str = "explicit"  # explicit | implicit | vague


@dataclass
class Person:
    name: str
    genre: int
    place: int
    instrument: str = ""
    is_band: bool = False
    label: int = -1


@dataclass
class Catalog:
    genres: list[GenreSpec]
    places: list[str]
    place_region: list[str]
    labels: list[str]
    label_genres: list[list[int]]
    label_place: list[int]
    label_year: list[int]
    producers: list[Person]
    legends: list[Person]
    artists: list[ArtistInfo]
    labels_by_genre: list[list[int]]
    producers_by_genre: list[list[int]]
    legends_by_genre: list[list[int]]
    scenes: list[np.ndarray] = field(default_factory=list)  # per genre: its two scene places


def hometown(cat: Catalog, g: int, rng: np.random.Generator) -> int:
    """A place for someone of genre ``g``: one of the genre's two scenes half the time."""
    if rng.random() < 0.5:
        return int(rng.choice(cat.scenes[g]))
    return int(rng.integers(len(cat.places)))


def draw_artist(
    cat: Catalog,
    neighbours: list[list[int]],
    names: NameFactory,
    rng: np.random.Generator,
    idx: int,
    genre: int,
    substyle: int,
    cross: int,
    p_kb: float,
    mode_p: tuple[float, float, float],
) -> ArtistInfo:
    """One artist: name, label, hometown, members or instrument, influences, albums.

    ``p_kb`` is the probability that it has a KB resource (0 for new releases, which
    are not in the knowledge base); ``mode_p`` the explicit / implicit / vague rates.
    """
    genres = cat.genres
    spec = genres[genre]
    g = genre
    is_band = bool(rng.random() < BAND_RATE[spec.key])
    name = names.band(spec.collectives) if is_band else names.person()
    lg = g
    if rng.random() < 0.15:
        lg = int(rng.choice(neighbours[g]))
    pool = cat.labels_by_genre[lg]
    zipf = 1.0 / np.arange(1, len(pool) + 1)
    label = int(pool[rng.choice(len(pool), p=zipf / zipf.sum())])
    formed = int(rng.integers(spec.era[0], max(spec.era[0] + 1, spec.era[1] - 3)))
    info = ArtistInfo(
        idx=idx,
        name=name,
        is_band=is_band,
        genre=g,
        substyle=substyle,
        cross=cross,
        hometown=hometown(cat, g, rng),
        label=label,
        formed=formed,
        in_kb=bool(rng.random() < p_kb),
        bio_mode=BIO_MODES[int(rng.choice(3, p=mode_p))],
    )
    if is_band:
        n_members = int(rng.integers(2, 6))
        insts = list(rng.permutation(spec.instruments))
        while len(insts) < n_members:
            insts.append(rng.choice(spec.instruments))
        for k in range(n_members):
            info.members.append((names.person(), str(insts[k]), hometown(cat, g, rng)))
        if rng.random() < 0.3:
            info.former.append(
                (names.person(), str(rng.choice(spec.instruments)), hometown(cat, g, rng))
            )
    else:
        info.instrument = str(rng.choice(spec.instruments))
        info.pronoun = str(rng.choice(("he", "she", "they"), p=(0.48, 0.44, 0.08)))
    info.legends = [
        int(x)
        for x in rng.choice(
            cat.legends_by_genre[g],
            size=min(len(cat.legends_by_genre[g]), int(rng.integers(1, 3))),
            replace=False,
        )
    ]
    n_places = len(cat.places)
    for k in range(int(rng.integers(1, 4))):
        prod_pool = cat.producers_by_genre[g] if rng.random() < 0.85 else range(len(cat.producers))
        year = min(2010, formed + int(rng.integers(1, 6)) * (k + 1))
        studio = hometown(cat, g, rng) if rng.random() < 0.6 else int(rng.integers(n_places))
        info.works.append(Work(names.work(), year, int(rng.choice(list(prod_pool))), studio, label))
    return info


def draw_associates(
    info: ArtistInfo,
    by_genre: list[np.ndarray],
    neighbours: list[list[int]],
    rng: np.random.Generator,
) -> list[int]:
    """Up to three associated artists (indices into ``by_genre``'s artists), mostly same genre."""
    n = int(rng.integers(0, 4))
    chosen: list[int] = []
    for _ in range(n):
        if rng.random() < 0.8:
            pool = by_genre[info.genre]
        else:
            pool = by_genre[int(rng.choice(neighbours[info.genre]))]
        b = int(rng.choice(pool))
        if b != info.idx and b not in chosen:
            chosen.append(b)
    return chosen


def build_catalog(
    cfg: WorldConfig, taste: Taste, names: NameFactory, rng: np.random.Generator
) -> Catalog:
    genres = taste.genres
    G = len(genres)
    A = len(taste.artist_genre)
    for g in genres:
        for lab in g.labels:
            names.reserve(lab)
    for inst in INSTRUMENTS:
        names.reserve(inst)
    per_genre = np.bincount(taste.artist_genre, minlength=G)

    # places, each genre with two "scenes"
    n_places = max(10, int(round(A / cfg.artists_per_place)))
    regions = [names.region() for _ in range(max(3, min(12, n_places // 4)))]
    places = [names.place() for _ in range(n_places)]
    place_region = [regions[int(rng.integers(len(regions)))] for _ in places]
    scenes = [rng.choice(n_places, size=2, replace=False) for _ in range(G)]

    def home(g: int) -> int:
        if rng.random() < 0.5:
            return int(rng.choice(scenes[g]))
        return int(rng.integers(n_places))

    # record labels per genre
    labels: list[str] = []
    label_genres: list[list[int]] = []
    label_place: list[int] = []
    label_year: list[int] = []
    labels_by_genre: list[list[int]] = [[] for _ in range(G)]
    for g in range(G):
        for _ in range(max(2, int(round(per_genre[g] / cfg.artists_per_label)))):
            gs = [g]
            if rng.random() < 0.25:
                gs.append(int(rng.choice(taste.neighbours[g])))
            labels_by_genre[g].append(len(labels))
            labels.append(names.label())
            label_genres.append(gs)
            label_place.append(home(g))
            label_year.append(int(rng.integers(genres[g].era[0] - 10, genres[g].era[1] - 5)))

    # producers (dbo:Engineer) and legends per genre
    producers: list[Person] = []
    producers_by_genre: list[list[int]] = [[] for _ in range(G)]
    legends: list[Person] = []
    legends_by_genre: list[list[int]] = [[] for _ in range(G)]
    for g in range(G):
        for _ in range(max(2, int(round(per_genre[g] / cfg.artists_per_producer)))):
            producers_by_genre[g].append(len(producers))
            producers.append(Person(names.person(), g, home(g)))
        for _ in range(cfg.legends_per_genre):
            band = rng.random() < BAND_RATE[genres[g].key]
            name = names.band(genres[g].collectives) if band else names.person()
            inst = "" if band else str(rng.choice(genres[g].instruments))
            legends_by_genre[g].append(len(legends))
            legends.append(
                Person(name, g, home(g), inst, band, int(rng.choice(labels_by_genre[g])))
            )

    cat = Catalog(
        genres=genres,
        places=places,
        place_region=place_region,
        labels=labels,
        label_genres=label_genres,
        label_place=label_place,
        label_year=label_year,
        producers=producers,
        legends=legends,
        artists=[],
        labels_by_genre=labels_by_genre,
        producers_by_genre=producers_by_genre,
        legends_by_genre=legends_by_genre,
        scenes=scenes,
    )

    # dataset artists
    pop_rank = np.argsort(np.argsort(taste.artist_pop))
    p_kb = np.clip(2.0 * cfg.kb_artist_coverage * (pop_rank + 0.5) / A, 0.05, 0.98)
    mode_p = bio_mode_p(cfg)
    for a in range(A):
        cat.artists.append(
            draw_artist(
                cat,
                taste.neighbours,
                names,
                rng,
                a,
                int(taste.artist_genre[a]),
                int(taste.artist_substyle[a]),
                int(taste.artist_cross[a]),
                float(p_kb[a]),
                mode_p,
            )
        )

    # associated artists: mostly the same genre
    by_genre = [np.flatnonzero(taste.artist_genre == g) for g in range(G)]
    for info in cat.artists:
        info.associates = draw_associates(info, by_genre, taste.neighbours, rng)
    return cat


# ---------------------------------------------------------------------- KB entities
@dataclass
class Entity:
    resource: str
    types: tuple[str, ...]
    labels: tuple[str, ...]
    props: dict[str, list[str]] = field(default_factory=dict)  # dbo property -> resources
    subjects: list[str] = field(default_factory=list)  # category names, no prefix


def _role(instrument: str) -> str:
    return INSTRUMENTS[instrument][2]


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith("s") else "s")


def kb_entities(cat: Catalog) -> list[Entity]:
    """Resources of the knowledge base, in a deterministic order."""
    genres = cat.genres
    R = resource_name
    gres = [g.resource for g in genres]
    out: list[Entity] = []
    present = {g.key: i for i, g in enumerate(genres)}

    used_instruments: dict[str, list[int]] = {}
    for i, g in enumerate(genres):
        for inst in g.instruments:
            used_instruments.setdefault(inst, []).append(i)

    for g in genres:
        out.append(
            Entity(
                g.resource,
                ("MusicGenre",),
                g.labels,
                {
                    "stylisticOrigin": [gres[present[o]] for o in g.origins if o in present],
                    "instrument": [INSTRUMENTS[x][0] for x in g.instruments],
                },
                ["Music_genres", g.category],
            )
        )
    for inst in sorted(used_instruments):
        res, family, _ = INSTRUMENTS[inst]
        subj = [family]
        if len(used_instruments[inst]) == 1:
            subj.append(f"{genres[used_instruments[inst][0]].category}_instruments")
        out.append(Entity(res, ("Instrument",), (inst,), {}, subj))
    for p, name in enumerate(cat.places):
        out.append(
            Entity(
                R(name), ("Place",), (name,), {}, [f"Populated_places_in_{R(cat.place_region[p])}"]
            )
        )
    for lab, name in enumerate(cat.labels):
        gs = cat.label_genres[lab]
        out.append(
            Entity(
                R(name),
                ("RecordLabel",),
                (name,),
                {"genre": [gres[g] for g in gs], "location": [R(cat.places[cat.label_place[lab]])]},
                [f"{genres[g].category}_record_labels" for g in gs]
                + [f"Record_labels_established_in_{cat.label_year[lab]}"],
            )
        )
    for pr in cat.producers:
        out.append(
            Entity(
                R(pr.name),
                ("Engineer",),
                (pr.name,),
                {"genre": [gres[pr.genre]], "birthPlace": [R(cat.places[pr.place])]},
                [
                    f"{genres[pr.genre].category}_record_producers",
                    f"People_from_{R(cat.places[pr.place])}",
                ],
            )
        )
    for lg in cat.legends:
        props = {
            "genre": [gres[lg.genre]],
            "homeTown": [R(cat.places[lg.place])],
            "recordLabel": [R(cat.labels[lg.label])],
        }
        if lg.instrument:
            props["instrument"] = [INSTRUMENTS[lg.instrument][0]]
        kind = "musical_groups" if lg.is_band else "musicians"
        subj = [f"{genres[lg.genre].category}_{kind}", f"Musicians_from_{R(cat.places[lg.place])}"]
        if lg.instrument:
            subj.append(f"{genres[lg.genre].category}_{R(_plural(_role(lg.instrument)))}")
        out.append(
            Entity(
                R(lg.name), ("Band" if lg.is_band else "MusicalArtist",), (lg.name,), props, subj
            )
        )

    artists = cat.artists
    for info in artists:
        if not info.in_kb:
            continue
        gcat = genres[info.genre].category
        gs = [gres[info.genre]] + ([gres[info.cross]] if info.cross >= 0 else [])
        props: dict[str, list[str]] = {
            "genre": gs,
            "recordLabel": [R(cat.labels[info.label])],
            "homeTown": [R(cat.places[info.hometown])],
        }
        assoc_art = [R(artists[b].name) for b in info.associates if not artists[b].is_band]
        assoc_band = [R(artists[b].name) for b in info.associates if artists[b].is_band]
        if assoc_art:
            props["associatedMusicalArtist"] = assoc_art
        if assoc_band:
            props["associatedBand"] = assoc_band
        subj = [
            f"{gcat}_{'musical_groups' if info.is_band else 'musicians'}",
            f"Musicians_from_{R(cat.places[info.hometown])}",
            f"{R(cat.labels[info.label])}_artists",
        ]
        if info.is_band:
            props["bandMember"] = [R(m[0]) for m in info.members]
            if info.former:
                props["formerBandMember"] = [R(m[0]) for m in info.former]
            subj.append(f"Musical_groups_established_in_{info.formed}")
        else:
            props["instrument"] = [INSTRUMENTS[info.instrument][0]]
            subj.append(f"{gcat}_{R(_plural(_role(info.instrument)))}")
        out.append(
            Entity(
                R(info.name),
                ("Band" if info.is_band else "MusicalArtist",),
                (info.name,),
                props,
                subj,
            )
        )
        for m_name, inst, place in info.members + info.former:
            out.append(
                Entity(
                    R(m_name),
                    ("MusicalArtist",),
                    (m_name,),
                    {
                        "instrument": [INSTRUMENTS[inst][0]],
                        "associatedBand": [R(info.name)],
                        "birthPlace": [R(cat.places[place])],
                    },
                    [f"{gcat}_{R(_plural(_role(inst)))}", f"People_from_{R(cat.places[place])}"],
                )
            )
        for w in info.works:
            writer = R(info.members[0][0]) if info.is_band else R(info.name)
            out.append(
                Entity(
                    R(w.title),
                    ("MusicalWork",),
                    (w.title,),
                    {
                        "artist": [R(info.name)],
                        "genre": [gres[info.genre]],
                        "recordLabel": [R(cat.labels[w.label])],
                        "producer": [R(cat.producers[w.producer].name)],
                        "recordedIn": [R(cat.places[w.studio])],
                        "writer": [writer],
                    },
                    [f"{w.year}_albums", f"{gcat}_albums", f"{R(info.name)}_albums"],
                )
            )
    return out


# ---------------------------------------------------------------------- Turtle
_NAMESPACES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "dbo": "http://dbpedia.org/ontology/",
    "dct": "http://purl.org/dc/terms/",
}

_IRI_BAD = set('<>"{}|^`\\ ')


def _resource(local: str):
    """The DBpedia resource ``local`` as a node; a name no IRI may hold is refused by name."""
    from pyoxigraph import NamedNode

    if any(c in _IRI_BAD or ord(c) < 0x21 for c in local):
        raise ValueError(f"resource name not usable in an IRI: {local!r}")
    return NamedNode(DBR + local)


def knowledge_triples(entities: list[Entity]) -> list:
    """The entities' triples (``pyoxigraph.Triple``), in entity order, duplicates kept."""
    from pyoxigraph import Literal, NamedNode, Triple

    rdf_type = NamedNode(_NAMESPACES["rdf"] + "type")
    label = NamedNode(_NAMESPACES["rdfs"] + "label")
    subject_of = NamedNode(_NAMESPACES["dct"] + "subject")
    dbo = _NAMESPACES["dbo"]
    triples = []
    for e in entities:
        node = _resource(e.resource)
        triples += [Triple(node, rdf_type, NamedNode(dbo + t)) for t in e.types]
        triples += [Triple(node, label, Literal(x, language="en")) for x in e.labels]
        for prop, objs in e.props.items():
            triples += [Triple(node, NamedNode(dbo + prop), _resource(o)) for o in objs]
        triples += [Triple(node, subject_of, _resource("Category:" + s)) for s in e.subjects]
    return triples


def to_turtle(entities: list[Entity]) -> tuple[str, int]:
    """Serialise entities as Turtle (pyoxigraph); returns the text and the number of triples."""
    from pyoxigraph import RdfFormat, serialize

    triples = knowledge_triples(entities)
    text = serialize(triples, format=RdfFormat.TURTLE, prefixes=_NAMESPACES)
    return text.decode("utf-8"), len(triples)
