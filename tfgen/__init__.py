"""tfgen: illustrated documents (comics, magazines, slide decks) from one local Transfusion model."""

__version__ = "0.1.0"
