"""The cast: the one explicit table from everyday names to OpenMoji glyphs.

Unicode names are not everyday names (SCHOOL SATCHEL is a backpack), so every thing the world
draws is listed here by the name captions use, with the code point of its pictogram. The 80
MS-COCO classes (GenEval's vocabulary) are either in COCO_GLYPHS or in COCO_MISSING, never both.
"""

from __future__ import annotations

from dataclasses import dataclass

# The 80 COCO object classes, in the dataset's own order.
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

# COCO class -> OpenMoji code point (hex). Approximations are noted.
COCO_GLYPHS: dict[str, str] = {
    "person": "1F9D1", "bicycle": "1F6B2", "car": "1F697", "motorcycle": "1F3CD",
    "airplane": "2708", "bus": "1F68C", "train": "1F686", "truck": "1F69A", "boat": "26F5",
    "traffic light": "1F6A6", "stop sign": "1F6D1", "bird": "1F426", "cat": "1F408",
    "dog": "1F415", "horse": "1F40E", "sheep": "1F411", "cow": "1F404", "elephant": "1F418",
    "bear": "1F43B", "zebra": "1F993", "giraffe": "1F992", "backpack": "1F392",
    "umbrella": "2602", "handbag": "1F45C", "tie": "1F454", "suitcase": "1F9F3",
    "frisbee": "1F94F", "skis": "1F3BF", "sports ball": "26BD", "kite": "1FA81",
    "skateboard": "1F6F9",
    "tennis racket": "1F3F8",  # a badminton racquet: the nearest racket OpenMoji draws
    "bottle": "1F37E", "wine glass": "1F377", "cup": "2615",
    "fork": "1F374",  # fork and knife
    "knife": "1F52A", "spoon": "1F944", "bowl": "1F963", "banana": "1F34C", "apple": "1F34E",
    "sandwich": "1F96A", "orange": "1F34A", "broccoli": "1F966", "carrot": "1F955",
    "hot dog": "1F32D", "pizza": "1F355", "donut": "1F369", "cake": "1F370", "chair": "1FA91",
    "couch": "1F6CB", "potted plant": "1FAB4", "bed": "1F6CF", "toilet": "1F6BD", "tv": "1F4FA",
    "laptop": "1F4BB", "mouse": "1F5B1", "keyboard": "2328", "cell phone": "1F4F1",
    "book": "1F4D6", "clock": "1F570",
    "vase": "1F3FA",  # an amphora
    "scissors": "2702", "teddy bear": "1F9F8", "toothbrush": "1FAA5",
}  # fmt: skip

# COCO classes OpenMoji has no pictogram for (the surfer/snowboarder glyphs are people, not boards).
COCO_MISSING: tuple[str, ...] = (
    "fire hydrant", "parking meter", "bench", "snowboard", "baseball bat", "baseball glove",
    "surfboard", "dining table", "remote", "microwave", "oven", "toaster", "sink",
    "refrigerator", "hair drier",
)  # fmt: skip

# Story species (animals, people, creatures) that are not already COCO classes.
SPECIES_GLYPHS: dict[str, str] = {
    "fox": "1F98A", "rabbit": "1F407", "owl": "1F989", "hedgehog": "1F994", "raccoon": "1F99D",
    "penguin": "1F427", "lion": "1F981", "tiger": "1F405", "wolf": "1F43A", "panda": "1F43C",
    "squirrel": "1F43F", "turtle": "1F422", "duck": "1F986", "frog": "1F438", "dragon": "1F409",
    "unicorn": "1F984", "robot": "1F916", "ghost": "1F47B", "alien": "1F47D", "wizard": "1F9D9",
    "fairy": "1F9DA", "snail": "1F40C", "bee": "1F41D", "octopus": "1F419", "koala": "1F428",
    "pig": "1F416", "monkey": "1F412", "snowman": "2603", "girl": "1F467", "boy": "1F466",
}  # fmt: skip

# Props: small things stories are about.
PROP_GLYPHS: dict[str, str] = {
    "lantern": "1F3EE", "key": "1F511", "map": "1F5FA", "compass": "1F9ED", "crown": "1F451",
    "top hat": "1F3A9", "balloon": "1F388", "gift": "1F381", "letter": "2709",
    "flashlight": "1F526", "candle": "1F56F", "magnifying glass": "1F50D", "hammer": "1F528",
    "guitar": "1F3B8", "drum": "1F941", "trumpet": "1F3BA", "star": "2B50", "tulip": "1F337",
    "mushroom": "1F344", "rose": "1F339", "basket": "1F9FA", "bell": "1F514", "coin": "1FA99",
    "gem": "1F48E", "telescope": "1F52D", "camera": "1F4F7", "rocket": "1F680", "shell": "1F41A",
    "feather": "1FAB6", "ring": "1F48D", "scroll": "1F4DC", "axe": "1FA93", "ladder": "1FA9C",
    "teapot": "1FAD6", "light bulb": "1F4A1", "pencil": "270F", "paintbrush": "1F58C",
    "magic wand": "1FA84", "pine tree": "1F332", "tree": "1F333",
}  # fmt: skip

# Never recoloured: a kite's main fill is only its white panels (the pink ones would stay and
# muddle the colour), and a person's main fill is skin.
NOT_RECOLOURED: frozenset[str] = frozenset({"kite", "person", "girl", "boy", "wizard", "fairy"})

_IRREGULAR_PLURALS = {
    "person": "people", "sheep": "sheep", "skis": "pairs of skis", "scissors": "pairs of scissors",
    "mouse": "computer mice", "knife": "knives", "fork": "forks", "wolf": "wolves",
    "fish": "fish", "broccoli": "heads of broccoli", "tv": "tvs", "cell phone": "cell phones",
}  # fmt: skip


@dataclass(frozen=True)
class Thing:
    """A drawable class: its caption name, glyph code point and what kind of thing it is."""

    name: str
    glyph: str  # hex code point, the key into the atlas
    group: str  # "coco", "species" or "prop"

    @property
    def plural(self) -> str:
        return plural(self.name)


def plural(name: str) -> str:
    """English plural of a class name ("bus" -> "buses", "person" -> "people")."""
    if name in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[name]
    if name.endswith(("s", "x", "ch", "sh")):
        return name + "es"
    if name.endswith("y") and name[-2:-1] not in "aeiou":
        return name[:-1] + "ies"
    return name + "s"


def article(phrase: str) -> str:
    """'a' or 'an' for a phrase, by its first sound (close enough for the cast's words)."""
    return "an" if phrase[:1].lower() in "aeiou" and not phrase.startswith(("uni", "use")) else "a"


def with_article(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


def all_things() -> dict[str, Thing]:
    """Every drawable class by name (COCO, species, props); names are unique."""
    things: dict[str, Thing] = {}
    for group, table in (("coco", COCO_GLYPHS), ("species", SPECIES_GLYPHS), ("prop", PROP_GLYPHS)):
        for name, glyph in table.items():
            things[name] = Thing(name, glyph, group)
    return things


def used_glyphs() -> list[str]:
    """The code points the world draws, sorted: exactly what the atlas must hold."""
    return sorted({t.glyph for t in all_things().values()})


# Characters are species the stories can cast as heroes: animals, people and creatures.
CHARACTER_SPECIES: tuple[str, ...] = (
    "fox", "rabbit", "owl", "hedgehog", "raccoon", "penguin", "lion", "tiger", "wolf", "panda",
    "squirrel", "turtle", "duck", "frog", "dragon", "unicorn", "robot", "ghost", "alien", "wizard",
    "fairy", "snail", "bee", "octopus", "koala", "pig", "monkey", "snowman", "girl", "boy",
    "cat", "dog", "bear", "elephant", "bird", "horse",
)  # fmt: skip

# Names given to characters; each starts with a capital so dialogue lines parse as dialogue.
CHARACTER_NAMES: tuple[str, ...] = (
    "Fern", "Bram", "Milo", "Juniper", "Olive", "Pip", "Rowan", "Hazel", "Tansy", "Otto",
    "Wren", "Basil", "Clover", "Ivy", "Moss", "Poppy", "Quill", "Saffi", "Tobin", "Umber",
    "Vela", "Willa", "Yarrow", "Zinnia", "Alder", "Bryony", "Cedar", "Dill", "Ember", "Finch",
)  # fmt: skip

# A character's distinguishing attribute: an accessory in one of the ten colours.
ACCESSORIES: tuple[str, ...] = ("hat", "cap")
