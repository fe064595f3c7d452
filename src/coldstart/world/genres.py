"""Hand-written genre knowledge: names, DBpedia-style resources, vocabulary, audio style.

Genre *names* are real (they are not entities anyone could confuse); every other
named entity of the world is invented in :mod:`coldstart.world.names`.
Vocabulary lists deliberately share some words across genres ("riffs", "groove",
"melodic", "acoustic", ...) so that text evidence is noisy.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}

#: 16-step patterns (kick, snare, hat) as hit probabilities; "none" = no drums.
DRUM_PATTERNS: dict[str, tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]] = {
    "none": ((0,) * 16, (0,) * 16, (0,) * 16),
    "rock": (
        (1, 0, 0, 0, 0, 0, 0, 0, 1, 0, .3, 0, 0, 0, 0, 0),
        (0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
        (1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0),
    ),
    "metal": (
        (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        (0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
        (1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0),
    ),
    "punk": (
        (1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 0),
        (0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
        (1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0),
    ),
    "jazz": (
        (.5, 0, 0, 0, 0, 0, 0, 0, .3, 0, 0, 0, 0, 0, 0, 0),
        (0, 0, 0, 0, .2, 0, 0, .2, 0, 0, 0, 0, .2, 0, 0, .3),
        (1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0),
    ),
    "shuffle": (
        (1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
        (0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
        (1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0),
    ),
    "light": (
        (.6, 0, 0, 0, 0, 0, 0, 0, .4, 0, 0, 0, 0, 0, 0, 0),
        (0, 0, 0, 0, .2, 0, 0, 0, 0, 0, 0, 0, .2, 0, 0, 0),
        (.5, 0, 0, 0, .5, 0, 0, 0, .5, 0, 0, 0, .5, 0, 0, 0),
    ),
    "train": (
        (1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
        (0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0),
        (1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0),
    ),
    "boombap": (
        (1, 0, 0, 0, 0, 0, 0, .6, 0, 0, 1, 0, 0, 0, 0, 0),
        (0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
        (1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0),
    ),
    "four": (
        (1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0),
        (0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
        (0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0),
    ),
    "onedrop": (
        (0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
        (0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
        (1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0),
    ),
    "backbeat": (
        (1, 0, 0, 0, 0, 0, .5, 0, 1, 0, 0, 0, 0, 0, 0, 0),
        (0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
        (1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0),
    ),
    "funk": (
        (1, 0, 0, .5, 0, 0, 1, 0, 0, .5, 1, 0, 0, 0, 0, 0),
        (0, 0, 0, 0, 1, 0, 0, .3, 0, .3, 0, 0, 1, 0, 0, .3),
        (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    ),
}


@dataclass(frozen=True)
class AudioProfile:
    """How a genre sounds; tracks perturb it with their artist and sub-style."""

    bpm: float
    swing: float  # delay of off-beat 16ths, fraction of a 16th
    scale: str
    register: float  # MIDI note at the centre of the lead voice
    lead_rate: float  # lead notes per beat
    legato: float  # note length / grid step
    rolloff: float  # harmonic amplitude ~ h ** -rolloff (low = bright)
    odd: float  # 0: all harmonics; 1: odd harmonics only (hollow)
    drive: float  # tanh distortion of the lead (0 = clean)
    attack: float  # seconds
    decay: float  # exponential decay time constant, seconds
    vibrato: float  # semitones
    pad: float  # chord pad level
    bass: float  # bass level
    drums: str  # key of DRUM_PATTERNS
    density: float  # scales hat / ghost-note probability
    cutoff: float  # master low-pass (Hz)


@dataclass(frozen=True)
class GenreSpec:
    key: str
    resource: str  # DBpedia resource name
    labels: tuple[str, ...]  # rdfs:label values (first = canonical)
    mention: str  # how a biography names the genre ("a hip hop crew")
    tags: tuple[str, ...]  # Last.fm-style tag spellings (first = usual)
    category: str  # stem of dct:subject categories ("Heavy_metal")
    origins: tuple[str, ...]
    instruments: tuple[str, ...]
    words: tuple[str, ...]
    substyles: tuple[tuple[str, tuple[str, ...]], ...]
    era: tuple[int, int]
    collectives: tuple[str, ...]  # band-name suffixes typical of the genre
    audio: AudioProfile


GENRES: tuple[GenreSpec, ...] = (
    GenreSpec(
        "rock", "Rock_music", ("Rock music", "Rock"), "rock", ("rock", "classic rock", "Rock"),
        "Rock", ("blues", "country", "folk"),
        ("Electric guitar", "Bass guitar", "Drum kit", "Hammond organ"),
        ("riffs", "anthems", "guitar-driven", "distortion", "backbeat", "swagger", "hooks",
         "raucous", "amplifiers", "gritty", "loud", "melodic", "choruses", "energetic",
         "rock and roll", "power chords", "heavy", "jangle"),
        (("garage rock", ("garage", "lo-fi", "fuzz", "scrappy", "raw")),
         ("psychedelic rock", ("psychedelic", "trippy", "swirling", "kaleidoscopic", "reverb")),
         ("arena rock", ("arena", "anthemic", "soaring", "bombastic", "stadium"))),
        (1965, 2008), ("Band", "Revival"),
        AudioProfile(124, 0.0, "mixolydian", 64, 1.0, 0.8, 1.1, 0.2, 0.6, 0.01, 0.8, 0.0,
                     0.3, 0.6, "rock", 0.6, 7000),
    ),
    GenreSpec(
        "jazz", "Jazz", ("Jazz",), "jazz", ("jazz", "smooth jazz", "Jazz"),
        "Jazz", ("blues",),
        ("Saxophone", "Trumpet", "Double bass", "Piano", "Clarinet", "Trombone"),
        ("improvisation", "swing", "solos", "syncopation", "standards", "horns", "ensemble",
         "virtuosic", "chord changes", "blue notes", "big band", "rhythm section",
         "walking bass", "jam sessions", "nightclubs", "melodic", "brushes", "quartet"),
        (("bebop", ("bebop", "uptempo", "harmonies", "virtuosity", "angular")),
         ("cool jazz", ("cool", "laid-back", "understated", "mellow", "lyrical")),
         ("jazz fusion", ("fusion", "electric", "jazz-rock", "experimental", "groove"))),
        (1950, 2005), ("Quartet", "Trio", "Big Band"),
        AudioProfile(132, 0.33, "dorian", 67, 1.5, 0.6, 1.6, 0.5, 0.0, 0.03, 1.2, 0.15,
                     0.35, 0.5, "jazz", 0.35, 6000),
    ),
    GenreSpec(
        "hip hop", "Hip_hop_music", ("Hip hop music", "Hip hop"), "hip hop",
        ("hip-hop", "hip hop", "rap"),
        "Hip_hop", ("funk", "soul", "reggae"),
        ("Turntables", "Sampler", "Drum machine"),
        ("rhymes", "beats", "MCs", "lyrics", "flow", "samples", "breakbeats", "mixtapes",
         "freestyle", "verses", "street", "crew", "hooks", "rapping", "bars", "cyphers",
         "groove", "battles"),
        (("boom bap", ("boom bap", "dusty", "crate-digging", "golden age", "jazzy")),
         ("trap", ("trap", "808s", "hi-hats", "menacing", "dark")),
         ("conscious hip hop", ("conscious", "political", "storytelling", "introspective",
                                "poetry"))),
        (1985, 2010), ("Crew", "Collective"),
        AudioProfile(90, 0.15, "minor", 50, 0.5, 0.5, 2.0, 0.1, 0.0, 0.01, 0.6, 0.0,
                     0.4, 1.0, "boombap", 0.6, 5000),
    ),
    GenreSpec(
        "electronic", "Electronic_music", ("Electronic music",), "electronic",
        ("electronic", "electronica", "dance"),
        "Electronic_music", ("pop", "funk", "classical"),
        ("Synthesizer", "Drum machine", "Sampler"),
        ("synths", "beats", "dancefloor", "club", "DJ sets", "sequencers", "loops", "pulsing",
         "remixes", "producers", "textures", "bass drops", "warehouse", "raves",
         "four-on-the-floor", "hypnotic", "dance", "groove"),
        (("techno", ("techno", "minimal", "industrial", "relentless", "machines")),
         ("house", ("house", "soulful", "deep", "disco", "piano")),
         ("ambient", ("ambient", "drifting", "atmospheric", "soundscapes", "drones"))),
        (1988, 2010), ("Sound System", "Collective"),
        AudioProfile(128, 0.0, "minor", 62, 4.0, 0.4, 0.7, 0.0, 0.0, 0.002, 0.2, 0.0,
                     0.4, 0.8, "four", 0.85, 11000),
    ),
    GenreSpec(
        "metal", "Heavy_metal_music", ("Heavy metal music", "Heavy metal"), "heavy metal",
        ("metal", "heavy metal", "Metal"),
        "Heavy_metal", ("rock", "blues", "punk"),
        ("Electric guitar", "Bass guitar", "Drum kit"),
        ("heavy", "riffs", "shredding", "double-bass drumming", "growls", "breakdowns",
         "brutal", "headbanging", "distortion", "crushing", "thunderous", "dark",
         "aggressive", "solos", "downtuned", "mosh pits", "fury", "apocalyptic"),
        (("thrash metal", ("thrash", "speed", "aggression", "tremolo", "whiplash")),
         ("doom metal", ("doom", "sludge", "slow", "funereal", "dirge")),
         ("power metal", ("power", "symphonic", "epic", "fantasy", "operatic"))),
        (1975, 2009), ("Horde",),
        AudioProfile(168, 0.0, "phrygian", 52, 2.0, 0.9, 0.8, 0.1, 2.0, 0.005, 0.5, 0.0,
                     0.4, 0.7, "metal", 0.9, 8000),
    ),
    GenreSpec(
        "folk", "Folk_music", ("Folk music",), "folk", ("folk", "acoustic", "singer-songwriter"),
        "Folk", (),
        ("Acoustic guitar", "Fiddle", "Banjo", "Mandolin", "Accordion"),
        ("acoustic", "ballads", "storytelling", "traditional", "fingerpicking", "harmonies",
         "rustic", "troubadour", "fiddle tunes", "campfire", "hushed", "intimate",
         "heartfelt", "pastoral", "singalong", "roots", "melodic", "lullabies"),
        (("indie folk", ("indie", "whimsical", "hushed", "bedroom", "delicate")),
         ("traditional folk", ("traditional", "ancient", "dances", "reels", "shanties")),
         ("folk rock", ("electric", "jangly", "protest", "rock", "harmonies"))),
        (1960, 2010), ("String Band", "Family"),
        AudioProfile(100, 0.0, "major_pentatonic", 66, 2.0, 0.7, 1.5, 0.0, 0.0, 0.002, 0.35,
                     0.0, 0.0, 0.3, "light", 0.15, 7000),
    ),
    GenreSpec(
        "classical", "Classical_music", ("Classical music",), "classical",
        ("classical", "orchestral", "piano"),
        "Classical_music", (),
        ("Violin", "Cello", "Piano", "Oboe", "Harp", "Flute"),
        ("orchestra", "symphonies", "concertos", "chamber", "sonatas", "compositions",
         "conductor", "ensemble", "recitals", "movements", "counterpoint", "repertoire",
         "philharmonic", "opus", "virtuoso", "premiere", "score", "quartet"),
        (("baroque", ("baroque", "harpsichord", "fugues", "period instruments", "ornate")),
         ("romantic", ("romantic", "lush", "sweeping", "expressive", "nocturnes")),
         ("contemporary classical", ("minimalist", "avant-garde", "contemporary",
                                     "experimental", "drones"))),
        (1950, 2008), ("Ensemble", "Consort", "Chamber Orchestra"),
        AudioProfile(72, 0.0, "harmonic_minor", 72, 1.0, 1.0, 1.8, 0.0, 0.0, 0.12, 3.0, 0.2,
                     0.5, 0.3, "none", 0.0, 9000),
    ),
    GenreSpec(
        "reggae", "Reggae", ("Reggae",), "reggae", ("reggae", "roots reggae", "ska"),
        "Reggae", ("soul", "jazz"),
        ("Bass guitar", "Melodica", "Hammond organ", "Electric guitar"),
        ("riddims", "offbeat", "skank", "dub", "roots", "rastafari", "sound systems",
         "basslines", "island", "one drop", "toasting", "conscious", "groove", "irie",
         "yard", "jah", "militant", "upliftment"),
        (("roots reggae", ("roots", "spiritual", "rasta", "uplifting", "militant")),
         ("dub", ("dub", "echo", "reverb", "versions", "mixing desk")),
         ("dancehall", ("dancehall", "digital", "bashment", "deejays", "riddims"))),
        (1968, 2008), ("Sound System", "All Stars"),
        AudioProfile(76, 0.0, "major", 60, 0.5, 0.3, 1.2, 0.2, 0.0, 0.005, 0.15, 0.0,
                     0.3, 1.0, "onedrop", 0.4, 6000),
    ),
    GenreSpec(
        "blues", "Blues", ("Blues",), "blues", ("blues", "blues rock", "Blues"),
        "Blues", ("folk",),
        ("Harmonica", "Electric guitar", "Acoustic guitar", "Piano"),
        ("twelve-bar", "slide guitar", "shuffle", "heartache", "juke joints", "harmonica",
         "call and response", "soulful", "gritty", "bends", "lament", "riffs",
         "improvisation", "raw", "acoustic", "moan", "lowdown", "crossroads"),
        (("delta blues", ("delta", "slide", "acoustic", "rural", "bottleneck")),
         ("chicago blues", ("electric", "amplified", "urban", "harp", "South Side")),
         ("blues rock", ("rock", "heavy", "guitar heroes", "amplified", "riffs"))),
        (1950, 2005), ("Blues Band", "Revue"),
        AudioProfile(84, 0.33, "blues", 62, 1.0, 0.8, 1.3, 0.3, 0.3, 0.01, 0.7, 0.1,
                     0.3, 0.6, "shuffle", 0.45, 6500),
    ),
    GenreSpec(
        "country", "Country_music", ("Country music",), "country",
        ("country", "americana", "Country"),
        "Country_music", ("folk", "blues"),
        ("Pedal steel guitar", "Fiddle", "Banjo", "Acoustic guitar"),
        ("honky-tonk", "twang", "heartbreak", "pedal steel", "rodeo", "ballads", "cowboy",
         "small-town", "pickup trucks", "fiddle", "line dancing", "outlaw", "barn dances",
         "southern", "acoustic", "storytelling", "whiskey", "prairie"),
        (("honky tonk", ("honky-tonk", "barroom", "shuffle", "jukebox", "drinking songs")),
         ("bluegrass", ("bluegrass", "banjo", "breakdowns", "mountain", "picking")),
         ("country pop", ("crossover", "polished", "radio-friendly", "anthems", "glossy"))),
        (1960, 2010), ("Ramblers", "String Band"),
        AudioProfile(112, 0.0, "major", 64, 2.0, 0.6, 1.0, 0.0, 0.0, 0.002, 0.4, 0.1,
                     0.2, 0.5, "train", 0.5, 7500),
    ),
    GenreSpec(
        "soul", "Soul_music", ("Soul music",), "soul", ("soul", "rnb", "Soul"),
        "Soul", ("blues", "jazz"),
        ("Hammond organ", "Trumpet", "Saxophone", "Bass guitar"),
        ("soulful", "gospel", "grooves", "horns", "falsetto", "heartfelt", "vocals",
         "testify", "R&B", "backing singers", "church", "smooth", "sweet", "longing",
         "melodic", "ballads", "rhythm", "sermons"),
        (("northern soul", ("northern", "stomping", "dance", "allnighters", "rare")),
         ("neo soul", ("neo", "jazzy", "organic", "lush", "warm")),
         ("southern soul", ("southern", "gritty", "brass", "raw", "pleading"))),
        (1960, 2008), ("Revue", "Singers"),
        AudioProfile(96, 0.1, "dorian", 62, 1.0, 0.8, 1.4, 0.6, 0.0, 0.02, 1.5, 0.2,
                     0.5, 0.7, "backbeat", 0.5, 6500),
    ),
    GenreSpec(
        "punk", "Punk_rock", ("Punk rock",), "punk", ("punk", "punk rock", "Punk"),
        "Punk_rock", ("rock",),
        ("Electric guitar", "Bass guitar", "Drum kit"),
        ("DIY", "fast", "loud", "three-chord", "anarchic", "snotty", "raw", "shouty",
         "rebellion", "zines", "basement shows", "abrasive", "short songs", "riffs",
         "energetic", "mosh", "anti-establishment", "safety pins"),
        (("hardcore punk", ("hardcore", "aggressive", "breakneck", "straight edge", "pit")),
         ("pop punk", ("pop punk", "catchy", "skate", "bratty", "summer")),
         ("post-punk", ("post-punk", "angular", "brooding", "wiry", "bleak"))),
        (1976, 2008), ("Kids",),
        AudioProfile(185, 0.0, "major", 60, 1.0, 0.9, 0.9, 0.1, 1.2, 0.005, 0.5, 0.0,
                     0.3, 0.7, "punk", 0.8, 8000),
    ),
    GenreSpec(
        "pop", "Pop_music", ("Pop music",), "pop", ("pop", "dance pop", "Pop"),
        "Pop", ("rock", "soul"),
        ("Synthesizer", "Piano", "Electric guitar"),
        ("catchy", "hooks", "chart", "radio", "singles", "choruses", "glossy", "dance",
         "melodic", "sing-along", "polished", "upbeat", "music videos", "teen", "hits",
         "synths", "ballads", "sparkling"),
        (("synth-pop", ("synthpop", "synths", "new wave", "electronic", "drum machines")),
         ("dance-pop", ("dance", "club", "upbeat", "remix", "glitter")),
         ("indie pop", ("indie", "jangly", "twee", "bedroom", "sweet"))),
        (1975, 2010), ("Girls", "Boys"),
        AudioProfile(116, 0.0, "major", 68, 1.0, 0.7, 1.2, 0.0, 0.0, 0.01, 0.6, 0.05,
                     0.5, 0.6, "backbeat", 0.55, 9000),
    ),
    GenreSpec(
        "funk", "Funk", ("Funk",), "funk", ("funk", "funky", "Funk"),
        "Funk", ("soul", "jazz"),
        ("Bass guitar", "Clavinet", "Trombone", "Saxophone", "Electric guitar"),
        ("grooves", "slap bass", "syncopation", "horns", "funky", "rhythm", "breaks", "tight",
         "sweaty", "clavinet", "dance", "brass", "strut", "get down", "party", "bass lines",
         "groove", "the one"),
        (("p-funk", ("cosmic", "p-funk", "psychedelic", "spaceship", "mothership")),
         ("disco-funk", ("disco", "glitter", "dancefloor", "strings", "mirrorball")),
         ("jazz-funk", ("jazz-funk", "fusion", "instrumental", "chops", "electric"))),
        (1966, 2000), ("Orchestra", "Machine"),
        AudioProfile(106, 0.1, "minor_pentatonic", 58, 2.0, 0.3, 1.0, 0.2, 0.2, 0.005, 0.2,
                     0.0, 0.3, 1.0, "funk", 0.75, 8000),
    ),
)

GENRE_BY_KEY = {g.key: g for g in GENRES}

#: Instruments: label -> (DBpedia resource, family category, player noun).
INSTRUMENTS: dict[str, tuple[str, str, str]] = {
    "Electric guitar": ("Electric_guitar", "String_instruments", "guitarist"),
    "Acoustic guitar": ("Acoustic_guitar", "String_instruments", "guitarist"),
    "Bass guitar": ("Bass_guitar", "String_instruments", "bassist"),
    "Double bass": ("Double_bass", "String_instruments", "double bassist"),
    "Drum kit": ("Drum_kit", "Percussion_instruments", "drummer"),
    "Hammond organ": ("Hammond_organ", "Keyboard_instruments", "organist"),
    "Piano": ("Piano", "Keyboard_instruments", "pianist"),
    "Clavinet": ("Clavinet", "Keyboard_instruments", "keyboardist"),
    "Synthesizer": ("Synthesizer", "Electronic_musical_instruments", "keyboardist"),
    "Drum machine": ("Drum_machine", "Electronic_musical_instruments", "producer"),
    "Sampler": ("Sampler_(musical_instrument)", "Electronic_musical_instruments", "producer"),
    "Turntables": ("Turntables", "Electronic_musical_instruments", "DJ"),
    "Saxophone": ("Saxophone", "Woodwind_instruments", "saxophonist"),
    "Clarinet": ("Clarinet", "Woodwind_instruments", "clarinetist"),
    "Flute": ("Flute", "Woodwind_instruments", "flautist"),
    "Oboe": ("Oboe", "Woodwind_instruments", "oboist"),
    "Trumpet": ("Trumpet", "Brass_instruments", "trumpeter"),
    "Trombone": ("Trombone", "Brass_instruments", "trombonist"),
    "Violin": ("Violin", "String_instruments", "violinist"),
    "Cello": ("Cello", "String_instruments", "cellist"),
    "Harp": ("Harp", "String_instruments", "harpist"),
    "Fiddle": ("Fiddle", "String_instruments", "fiddler"),
    "Banjo": ("Banjo", "String_instruments", "banjoist"),
    "Mandolin": ("Mandolin", "String_instruments", "mandolinist"),
    "Accordion": ("Accordion", "Keyboard_instruments", "accordionist"),
    "Harmonica": ("Harmonica", "Woodwind_instruments", "harmonica player"),
    "Pedal steel guitar": ("Pedal_steel_guitar", "String_instruments", "steel guitarist"),
    "Melodica": ("Melodica", "Woodwind_instruments", "melodica player"),
}

#: Generic music words used by every genre's biographies (noise for text models).
GENERIC_MUSIC_WORDS = (
    "songs", "album", "records", "sound", "music", "live shows", "studio", "tour",
    "audiences", "melodies", "rhythm", "vocals", "lyrics", "debut", "singles", "energy",
)

#: Generic Last.fm tags (no genre information).
GENERIC_TAGS = (
    "seen live", "favorites", "favourite", "awesome", "love", "beautiful", "chill",
    "amazing", "cool", "my collection", "female vocalists", "male vocalists", "instrumental",
    "american", "british", "canadian", "swedish", "german", "french", "underrated",
    "albums i own", "check out",
)
