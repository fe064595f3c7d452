"""Biographies and Last.fm-style tags.

A biography is assembled from sentence templates: an opening (name, hometown and,
for *explicit* bios, the genre), genre-vocabulary sentences, mentions of KB
entities by their exact label (record label, albums, producers, band members,
associated artists, influences), generic filler and sometimes the Last.fm licence
footer. *Implicit* bios name neither the genre nor much of its vocabulary but
mention many entities whose KB facts carry the genre; *vague* bios carry little of
anything. Tags are noisier but more direct: usually the genre tag on top, sometimes
a neighbouring genre's, plus sub-style, decade and generic tags.
"""

from __future__ import annotations

import re

import numpy as np

from .genres import GENERIC_MUSIC_WORDS, GENERIC_TAGS, INSTRUMENTS
from .knowledge import ArtistInfo, Catalog

FOOTER = (
    "Read more on Last.fm. User-contributed text is available under the Creative "
    "Commons By-SA License; additional terms may apply."
)


class _Voice:
    """Pronoun and verb forms for a band ("they") or a solo artist."""

    def __init__(self, info: ArtistInfo) -> None:
        p = "they" if info.is_band else info.pronoun
        self.subj = p
        self.obj = {"he": "him", "she": "her"}.get(p, "them")
        self.poss = {"he": "his", "she": "her"}.get(p, "their")
        plural = p == "they"
        self.has = "have" if plural else "has"
        self.is_ = "are" if plural else "is"
        self.was = "were" if plural else "was"
        self.s = "" if plural else "s"

    def fill(self, template: str, **kw: str) -> str:
        text = template.format(
            subj=self.subj,
            Subj=self.subj.capitalize(),
            obj=self.obj,
            poss=self.poss,
            Poss=self.poss.capitalize(),
            has=self.has,
            is_=self.is_,
            was=self.was,
            s=self.s,
            **kw,
        )
        return text[0].upper() + text[1:]


_GENRE_SENTENCES = (
    "{Poss} music is built on {w1}, {w2} and {w3}.",
    "Critics have praised the {w1} and {w2} of {poss} recordings.",
    "{Poss} sound mixes {w1} with {w2}.",
    "Expect {w1}, {w2} and plenty of {w3} at {poss} shows.",
    "{Subj} {is_} known for {w1} and {w2}.",
    "{Poss} second record leaned further into {w1}.",
    "Few acts from {place} have embraced {w1} so completely.",
    "Reviewers single out the {w1} on almost every track.",
    "{Poss} live sets are all {w1} and {w2}.",
)
_EXPLICIT_SENTENCES = (
    "The {genre} scene in {place} embraced {obj} early on.",
    "{Subj} {is_} often described as one of the most exciting {genre} acts of {poss} generation.",
    "Rooted in {genre}, {poss} songs lean towards {sub}.",
    "{Poss} take on {sub} made {obj} a name well beyond {place}.",
)
_FILLERS = (
    "A hiatus in {y} was followed by a run of festival dates.",
    "{Subj} {has} released records on several small labels and toured extensively.",
    "A live album followed in {y}.",
    "{Poss} website lists upcoming shows and a mailing list.",
    "{Subj} {has} appeared on national radio and television.",
    "The press has been kind, and the shows keep getting bigger.",
    "Since then, {subj} {has} toured across Europe and North America.",
    "{Subj} {was} nominated for a regional music award in {y}.",
    "There are at least two other artists using this name.",
    "{Poss} songs have been used in adverts and independent films.",
    "A new record is reportedly in the works.",
    "In {y}, {subj} celebrated a decade together with a sold-out show.",
    "Tickets for the {y} tour sold out within hours \u2013 a first for {obj}.",
    "{Subj} still rehearse{s} in the same basement where it all started.",
    "Little is known about {poss} early years\u2026",
    "The {y} reissue added demos, alternate takes and a booklet of photographs.",
)
_LABEL_SENTENCES = (
    "{Subj} signed to {label} in {y}.",
    "{Poss} records are released by {label}.",
    "After a run of self-released tapes, {subj} joined the roster of {label}.",
    "{label} has released everything {subj} {has} put out since {y}.",
)
_WORK_SENTENCES = (
    "{Poss} debut album {q1}{work}{q2} came out in {y}.",
    "The {y} album {q1}{work}{q2} was recorded in {studio} with producer {producer}.",
    "{q1}{work}{q2} ({y}), produced by {producer}, remains {poss} best-known record.",
    "In {y} {subj} released {q1}{work}{q2}, recorded at a converted barn outside {studio}.",
    "{producer} produced {q1}{work}{q2}, which came out in {y}.",
)
_ASSOC_SENTENCES = (
    "{Subj} {has} toured with {a1}.",
    "{a1} appears as a guest on several tracks.",
    "{Subj} shared the stage with {a1} on {poss} first tour.",
    "A split single with {a1} followed in {y}.",
)
_LEGEND_SENTENCES = (
    "{Subj} cite{s} {l1} as a major influence.",
    "Comparisons with {l1} followed {obj} from the start.",
    "{Poss} early demos were heavily indebted to {l1}.",
    "{Subj} grew up listening to {l1}.",
)
_BAND_OPENINGS = (
    "{name} is a {desc}band from {place}.",
    "{name} are a {desc}{size} from {place}.",
    "Formed in {place} in {y}, {name} is a {desc}band.",
)
_SOLO_OPENINGS = (
    "{name} (born {by}) is a {desc}{role} from {place}.",
    "{name} is a {desc}{role} based in {place}.",
)
_NEUTRAL_DESC = (
    "",
    "",
    "four-piece ",
    "young ",
    "independent ",
    "critically acclaimed ",
    "long-running ",
    "cult ",
)


def biography(
    info: ArtistInfo, cat: Catalog, rng: np.random.Generator, short: bool, neighbours: list[int]
) -> tuple[str, bool]:
    """One biography; returns ``(text, names_the_genre)``."""
    spec = cat.genres[info.genre]
    sub_name, sub_words = spec.substyles[info.substyle]
    v = _Voice(info)
    place = cat.places[info.hometown]
    mode = info.bio_mode
    explicit = mode == "explicit" or (mode == "vague" and rng.random() < 0.2)
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731

    def year(lo: int = 0, hi: int = 12) -> int:
        return min(2010, info.formed + int(rng.integers(lo, hi)))

    # opening
    if explicit:
        gdesc = sub_name if rng.random() < 0.35 else spec.mention
        desc = f"{gdesc} "
    else:
        desc = pick(_NEUTRAL_DESC)
    if info.is_band:
        opening = v.fill(
            pick(_BAND_OPENINGS),
            name=info.name,
            desc=desc,
            place=place,
            size=pick(("band", "group", "collective", "trio", "quartet")),
            y=str(info.formed),
        )
    else:
        role = ("singer-songwriter", "musician", "composer", "producer")[int(rng.integers(4))]
        if rng.random() < 0.5 and info.instrument:
            role = INSTRUMENTS[info.instrument][2]
        opening = v.fill(
            pick(_SOLO_OPENINGS),
            name=info.name,
            desc=desc,
            place=place,
            role=role,
            by=str(info.formed - int(rng.integers(18, 30))),
        )
    opening = re.sub(r"\b(is|are) a ([aeiouAEIOU])", r"\1 an \2", opening)
    if short:  # MSD-A keeps biographies of at least 50 characters: so do short ones
        while len(opening) < 50:
            opening += " " + v.fill(pick(_FILLERS), y=str(year(3, 20)))
        return opening, explicit

    # genre vocabulary: own words, sub-style words, a neighbour's words as noise
    n_words = {
        "explicit": rng.integers(4, 10),
        "implicit": rng.integers(0, 3),
        "vague": rng.integers(0, 3),
    }[mode]
    words: list[str] = []
    for _ in range(int(n_words)):
        r = rng.random()
        if r < 0.55:
            words.append(pick(spec.words))
        elif r < 0.8:
            words.append(pick(sub_words))
        elif r < 0.9 and neighbours:
            words.append(pick(cat.genres[int(pick(neighbours))].words))
        else:
            words.append(pick(GENERIC_MUSIC_WORDS))
    words = list(dict.fromkeys(words))  # no word twice
    body: list[str] = []
    while words:
        take, words = words[:3], words[3:]
        while len(take) < 3:
            w = pick(GENERIC_MUSIC_WORDS)
            if w not in take:
                take.append(w)
        body.append(v.fill(pick(_GENRE_SENTENCES), w1=take[0], w2=take[1], w3=take[2], place=place))
    if explicit and rng.random() < 0.7:
        body.append(
            v.fill(pick(_EXPLICIT_SENTENCES), genre=spec.mention, sub=sub_name, place=place)
        )

    p_mention = {"explicit": 0.55, "implicit": 0.9, "vague": 0.25}[mode]
    # band members / instrument
    if info.is_band and info.members and rng.random() < p_mention:
        ms = info.members[:3]
        parts = [f"{m} on {inst.lower()}" for m, inst, _ in ms]
        lst = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        body.append(f"The line-up features {lst}.")
        if info.former and rng.random() < 0.6:
            body.append(
                f"{info.former[0][0]} left the band in {year(2, 10)} and was replaced "
                f"by {info.members[-1][0]}."
            )
    elif not info.is_band and rng.random() < p_mention:
        body.append(
            v.fill(
                pick(
                    (
                        "{Subj} began playing the {inst} at the age of {age}.",
                        "A self-taught musician, {subj} switched to the {inst} in {poss} teens.",
                    )
                ),
                inst=info.instrument.lower(),
                age=str(int(rng.integers(5, 16))),
            )
        )
    if rng.random() < p_mention:
        body.append(v.fill(pick(_LABEL_SENTENCES), label=cat.labels[info.label], y=str(year(1, 6))))
    for w in info.works:
        if rng.random() < p_mention * 0.8:
            q1, q2 = ("\u201c", "\u201d") if rng.random() < 0.3 else ('"', '"')
            body.append(
                v.fill(
                    pick(_WORK_SENTENCES),
                    work=w.title,
                    y=str(w.year),
                    q1=q1,
                    q2=q2,
                    studio=cat.places[w.studio],
                    producer=cat.producers[w.producer].name,
                )
            )
    for b in info.associates:
        if rng.random() < p_mention:
            body.append(v.fill(pick(_ASSOC_SENTENCES), a1=cat.artists[b].name, y=str(year(2, 12))))
    for lg in info.legends:
        if rng.random() < p_mention:
            body.append(v.fill(pick(_LEGEND_SENTENCES), l1=cat.legends[lg].name))
    for _ in range(int(rng.integers(0, 7))):
        body.append(v.fill(pick(_FILLERS), y=str(year(3, 20))))

    order = rng.permutation(len(body))
    text = " ".join([opening] + [body[i] for i in order])
    if rng.random() < 0.3:  # paragraph break, as Last.fm bios have
        cut = text.find(". ", len(text) // 2)
        if cut > 0:
            text = text[: cut + 1] + "\n\n" + text[cut + 2 :]
    if rng.random() < 0.4:
        text += " " + FOOTER
    return text, explicit


def artist_tags(
    info: ArtistInfo,
    cat: Catalog,
    rng: np.random.Generator,
    familiarity: float,
    noise_rate: float,
    neighbours: list[int],
) -> list[tuple[str, int]]:
    """Last.fm-style top tags with weights 0-100, heaviest first."""
    spec = cat.genres[info.genre]
    G = len(cat.genres)
    tags: dict[str, int] = {}

    def add(tag: str, weight: int) -> None:
        if tag not in tags:
            tags[tag] = int(np.clip(weight, 0, 100))

    own = spec.tags[0] if rng.random() < 0.8 else spec.tags[int(rng.integers(len(spec.tags)))]
    if rng.random() < noise_rate and neighbours:
        other = cat.genres[int(rng.choice(neighbours))]
        add(other.tags[0], 100)
        if rng.random() < 0.7:
            add(own, int(rng.integers(30, 90)))
    else:
        add(own, 100)
    if rng.random() < 0.8:
        add(spec.substyles[info.substyle][0], int(rng.integers(25, 95)))
    if info.cross >= 0 and rng.random() < 0.7:
        add(cat.genres[info.cross].tags[0], int(rng.integers(20, 80)))
    if neighbours and rng.random() < 0.3:
        add(cat.genres[int(rng.choice(neighbours))].tags[0], int(rng.integers(5, 40)))
    if rng.random() < 0.08:
        add(cat.genres[int(rng.integers(G))].tags[0], int(rng.integers(1, 20)))
    n_generic = int(np.clip(round(1 + 8 * familiarity + rng.normal(0, 1.5)), 0, 10))
    if n_generic and rng.random() < 0.15 * familiarity:
        add("seen live", int(rng.integers(60, 101)))
    decade = (info.formed // 10) % 10
    if rng.random() < 0.5:
        add(f"{decade}0s", int(rng.integers(5, 60)))
    for i in rng.permutation(len(GENERIC_TAGS))[:n_generic]:
        add(GENERIC_TAGS[int(i)], int(rng.integers(0, 55)))
    items = list(tags.items())
    rank = np.argsort([-w for _, w in items], kind="stable")
    items = [items[i] for i in rank]
    if items and items[0][1] < 100:
        items[0] = (items[0][0], 100)
    return items
