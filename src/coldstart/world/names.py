"""Invented names (people, bands, places, labels, albums) and MSD / Taste Profile ids.

Every knowledge-base label is registered in one :class:`NameFactory`, which refuses
duplicates case-insensitively, so that label matching is unambiguous. Names are built
from syllables and word lists chosen to sound plausible but not to be real entities;
a few carry accents so that the text is not pure ASCII.
"""

from __future__ import annotations

import numpy as np

_ALNUM = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
_HEX = np.array(list("0123456789abcdef"))

FIRST_NAMES = (
    "Mara",
    "Orrin",
    "Tobias",
    "Elena",
    "Joaquín",
    "Renée",
    "Soren",
    "Ines",
    "Zoë",
    "Aurelio",
    "Björn",
    "Camille",
    "Dmitri",
    "Halvard",
    "Ilse",
    "Kasimir",
    "Leontyne",
    "Magnus",
    "Noémie",
    "Odile",
    "Pascal",
    "Quentin",
    "Rosalind",
    "Saoirse",
    "Thaddeus",
    "Ulla",
    "Vesna",
    "Wendell",
    "Xavi",
    "Yusuf",
    "Zelda",
    "Amadou",
    "Beatriz",
    "Cosmo",
    "Delphine",
    "Emeric",
    "Fenna",
    "Gideon",
    "Hollis",
    "Idris",
    "Juniper",
    "Kit",
    "Linnea",
    "Marisol",
    "Nico",
    "Octavia",
    "Pim",
    "Rafferty",
    "Sunniva",
    "Tamsin",
    "Uriel",
    "Valentin",
    "Wren",
    "Ysolde",
    "Zane",
    "Agnès",
    "Søren",
    "Matías",
    "Ottilie",
    "Lazlo",
    "Perpetua",
    "Cormac",
    "Ingrid",
    "Lucius",
    "Anouk",
    "Bastian",
    "Clementine",
    "Dorian",
    "Esmé",
    "Florian",
    "Greta",
    "Horatio",
    "Imogen",
    "Jasper",
    "Katya",
    "Leander",
    "Mirela",
    "Nils",
    "Oona",
    "Percival",
    "Rosalía",
    "Silas",
    "Thea",
    "Ulysses",
    "Viveka",
    "Wilhelmina",
    "Ximena",
    "Yorick",
    "Zuzana",
    "Ambrose",
    "Bettina",
)

_SUR_START = (
    "Qui",
    "Mar",
    "Bel",
    "Cor",
    "Dra",
    "Fen",
    "Hal",
    "Kes",
    "Lor",
    "Mor",
    "Ner",
    "Os",
    "Pel",
    "Rav",
    "Sel",
    "Tor",
    "Val",
    "Wyn",
    "Brin",
    "Cal",
    "Thorn",
    "Ald",
    "Ever",
    "Gal",
    "Hast",
    "Ing",
    "Jor",
    "Kell",
    "Lind",
    "Mont",
    "Ash",
    "Bram",
    "Dun",
    "Fal",
    "Gar",
    "Hem",
    "Lud",
    "Pren",
    "Stra",
    "Vor",
)
_SUR_MID = ("", "", "a", "e", "i", "o", "en", "ar", "el")
_SUR_END = (
    "lon",
    "ley",
    "by",
    "wick",
    "ard",
    "ton",
    "mere",
    "ski",
    "elli",
    "ov",
    "quist",
    "mann",
    "ez",
    "ault",
    "ane",
    "ford",
    "holt",
    "stein",
    "ridge",
    "ier",
    "eau",
    "sen",
    "ic",
    "ström",
    "ás",
    "ette",
)

_PLACE_ROOT = (
    "Aldane",
    "Marrow",
    "Kestle",
    "Vell",
    "Orell",
    "Brask",
    "Tamber",
    "Quell",
    "Dunmar",
    "Yarrow",
    "Corrin",
    "Hesk",
    "Lissen",
    "Morv",
    "Pellan",
    "Ravel",
    "Selk",
    "Tarn",
    "Umber",
    "Wend",
    "Asper",
    "Bellam",
    "Cray",
    "Drum",
    "Esk",
    "Farr",
    "Gilder",
    "Harrow",
    "Istel",
    "Jessam",
    "Kirrow",
    "Lanth",
    "Mizzen",
    "Norrow",
    "Oskar",
    "Penhal",
    "Rookham",
    "Sorrel",
    "Trell",
    "Vantor",
    "Whit",
    "Zenn",
)
_PLACE_SUFFIX = (
    "field",
    "bury",
    "mouth",
    "haven",
    "ford",
    " Falls",
    " Harbor",
    "ton",
    "wick",
    "dale",
    "port",
    " Springs",
    "stad",
    "ville",
    "holm",
    "ridge",
    " Crossing",
    "minster",
)
_PLACE_PREFIX = ("Port ", "San ", "New ", "East ", "Saint-", "Lower ", "North ")

_REGIONS = (
    "Vellmark",
    "Tamber Valley",
    "Cascadel Coast",
    "Orrin Highlands",
    "Lower Brask",
    "Quellshire",
    "the Marrow Plains",
    "Dunmar County",
    "Yarrow Bay",
    "Esklund",
    "the Pellan Islands",
    "Greater Kirrow",
)

_BAND_ADJ = (
    "Velvet",
    "Copper",
    "Hollow",
    "Silent",
    "Electric",
    "Golden",
    "Crimson",
    "Paper",
    "Iron",
    "Midnight",
    "Glass",
    "Wandering",
    "Broken",
    "Northern",
    "Lunar",
    "Amber",
    "Feral",
    "Gentle",
    "Static",
    "Distant",
    "Burning",
    "Tidal",
    "Silver",
    "Rusty",
    "Neon",
    "Sleepy",
    "Little",
    "Secret",
    "Salt",
    "Cobalt",
    "Pale",
    "Wild",
    "Plastic",
    "Brass",
    "Orange",
)
_BAND_NOUN = (
    "Lanterns",
    "Marrows",
    "Sparrows",
    "Engines",
    "Harbors",
    "Wolves",
    "Kites",
    "Ravens",
    "Orchards",
    "Satellites",
    "Tides",
    "Furnaces",
    "Mirrors",
    "Owls",
    "Comets",
    "Rivers",
    "Ghosts",
    "Anchors",
    "Foxes",
    "Signals",
    "Pylons",
    "Moths",
    "Antlers",
    "Gardens",
    "Telegrams",
    "Bicycles",
    "Lighthouses",
    "Horses",
    "Thieves",
    "Cathedrals",
)
_LABEL_WORD = (
    "Brindle",
    "Hollow",
    "Cobalt",
    "Meridian",
    "Foxglove",
    "Lantern",
    "Harbor",
    "Saltmarsh",
    "Wicker",
    "Juniper",
    "Thistle",
    "Marble",
    "Ember",
    "Kettle",
    "Orchard",
    "Larkspur",
    "Quarry",
    "Bramble",
    "Tinder",
    "Sable",
    "Gannet",
    "Heron",
    "Pewter",
    "Umber",
    "Vellum",
    "Wren",
    "Alder",
    "Basalt",
    "Cinder",
    "Drift",
    "Fathom",
    "Gossamer",
    "Hazel",
    "Ironweed",
)
_LABEL_SUFFIX = ("Records", "Records", "Records", "Recordings", "Music", "Sounds", "Discs")
_WORK_NOUN = (
    "Lanterns",
    "Rivers",
    "Winter",
    "Harbor Lights",
    "Glass Houses",
    "Small Hours",
    "Tides",
    "Wires",
    "Birds",
    "Machines",
    "Orchards",
    "Static",
    "Embers",
    "Satellites",
    "Maps",
    "Letters",
    "Ghosts",
    "Mirrors",
    "Gardens",
    "Bells",
    "Streetlights",
    "Engines",
    "Horizons",
    "Paper Boats",
    "Thunder",
    "Postcards",
    "Ladders",
    "Echoes",
)
_WORK_ADJ = (
    "Quiet",
    "Hollow",
    "Burning",
    "Northern",
    "Velvet",
    "Endless",
    "Paper",
    "Copper",
    "Lost",
    "Slow",
    "Bright",
    "Strange",
    "Tender",
    "Restless",
    "Distant",
    "Sleepless",
    "Wild",
    "Blue",
)
_SONG_WORDS = (
    "Night",
    "Train",
    "Heart",
    "River",
    "Fire",
    "Dancing",
    "Blue",
    "Home",
    "Gone",
    "Road",
    "Rain",
    "Dream",
    "Summer",
    "Ghost",
    "Light",
    "Gold",
    "Running",
    "City",
    "Love",
    "Down",
    "Stone",
    "Window",
    "Morning",
    "Shadow",
    "Wire",
    "Sugar",
    "Storm",
    "Echo",
    "Honey",
    "Radio",
)


class NameFactory:
    """Draws unique invented names from one RNG (deterministic in call order)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._used: set[str] = set()

    def fork(self, rng: np.random.Generator) -> NameFactory:
        """Another factory drawing from ``rng`` that refuses every name taken here so far
        (new releases: names unique against the whole world, from their own stream)."""
        other = NameFactory(rng)
        other._used = set(self._used)
        return other

    # -- helpers ------------------------------------------------------------------
    def _pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def reserve(self, label: str) -> None:
        """Mark a label (e.g. a genre or instrument name) as taken."""
        self._used.add(label.lower())

    def _unique(self, make, tries: int = 200) -> str:
        for _ in range(tries):
            name = make()
            if name.lower() not in self._used:
                self._used.add(name.lower())
                return name
        # fall back: disambiguate with a Roman-looking suffix, still deterministic
        base = make()
        for k in range(2, 10_000):
            name = f"{base} {_roman(k)}"
            if name.lower() not in self._used:
                self._used.add(name.lower())
                return name
        raise RuntimeError("name space exhausted")

    def surname(self) -> str:
        return self._pick(_SUR_START) + self._pick(_SUR_MID) + self._pick(_SUR_END)

    # -- entity names -------------------------------------------------------------
    def person(self) -> str:
        return self._unique(lambda: f"{self._pick(FIRST_NAMES)} {self.surname()}")

    def band(self, collectives: tuple[str, ...] = ()) -> str:
        def make() -> str:
            r = self.rng.random()
            if collectives and r < 0.25:
                return f"{self.surname()} {self._pick(collectives)}"
            if r < 0.55:
                return f"The {self._pick(_BAND_ADJ)} {self._pick(_BAND_NOUN)}"
            if r < 0.8:
                return f"{self._pick(_BAND_ADJ)} {self._pick(_BAND_NOUN)}"
            return f"{self._pick(_BAND_NOUN)} of {self._pick(_PLACE_ROOT)}"

        return self._unique(make)

    def place(self) -> str:
        def make() -> str:
            root = self._pick(_PLACE_ROOT)
            r = self.rng.random()
            if r < 0.25:
                name = self._pick(_PLACE_PREFIX) + root + self._pick(("", "a", "en", "ia"))
            else:
                name = root + self._pick(_PLACE_SUFFIX)
            if self.rng.random() < 0.08:
                name = name.replace("e", "é", 1)
            return name

        return self._unique(make)

    def region(self) -> str:
        return self._unique(lambda: self._pick(_REGIONS))

    def label(self) -> str:
        def make() -> str:
            r = self.rng.random()
            if r < 0.6:
                i, j = self.rng.choice(len(_LABEL_WORD), size=2, replace=False)
                return f"{_LABEL_WORD[i]} {_LABEL_WORD[j]} {self._pick(_LABEL_SUFFIX)}"
            if r < 0.8:
                return f"{self.surname()} {self._pick(_LABEL_SUFFIX)}"
            return (
                f"{self._pick(_LABEL_WORD)} {self._pick(_PLACE_ROOT)} {self._pick(_LABEL_SUFFIX)}"
            )

        return self._unique(make)

    def work(self) -> str:
        def make() -> str:
            r = self.rng.random()
            if r < 0.35:
                return f"{self._pick(_WORK_ADJ)} {self._pick(_WORK_NOUN)}"
            if r < 0.55:
                return f"{self._pick(_WORK_NOUN)} over {self._pick(_PLACE_ROOT)}"
            if r < 0.7:
                return f"Songs for {self._pick(FIRST_NAMES)}"
            if r < 0.85:
                return f"The {self._pick(_PLACE_ROOT)} Sessions"
            return f"{self._pick(_WORK_NOUN)} and {self._pick(_WORK_NOUN)}"

        return self._unique(make)

    def song_title(self) -> str:
        """Song titles are not KB labels: they need not be unique."""
        n = 1 + int(self.rng.integers(3))
        words = [self._pick(_SONG_WORDS) for _ in range(n)]
        if n == 1 and self.rng.random() < 0.3:
            words.insert(0, self._pick(("The", "My", "No", "Old")))
        return " ".join(words)


def _roman(k: int) -> str:
    vals = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    out = ""
    if k > 39:
        return str(k)
    for v, s in vals:
        while k >= v:
            out += s
            k -= v
    return out


# ---------------------------------------------------------------------- identifiers
def unique_codes(
    rng: np.random.Generator,
    n: int,
    prefix: str,
    length: int = 16,
    alphabet: np.ndarray = _ALNUM,
    taken: set[str] | None = None,
) -> list[str]:
    """``n`` distinct ids ``prefix + length`` random characters (MSD style: SO/TR/AR)."""
    taken = set() if taken is None else taken
    out: list[str] = []
    while len(out) < n:
        need = n - len(out)
        draws = alphabet[rng.integers(len(alphabet), size=(need, length))]
        for row in draws:
            code = prefix + "".join(row)
            if code not in taken:
                taken.add(code)
                out.append(code)
    return out


def user_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Taste Profile user ids: 40 lowercase hex characters."""
    return unique_codes(rng, n, "", 40, _HEX)


def mbid(rng: np.random.Generator) -> str:
    """A MusicBrainz-style UUID4 string."""
    h = "".join(_HEX[rng.integers(16, size=32)])
    h = h[:12] + "4" + h[13:16] + "89ab"[int(rng.integers(4))] + h[17:]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
