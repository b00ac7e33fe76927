"""The storyworld: OpenMoji pictogram scenes with exact annotations, and documents about them.

cast (names -> glyphs), atlas (the shipped sprite sheet), sprites/recolour (sized, recoloured,
dressed glyphs), backgrounds (settings), scene (composition + annotations), sampling (GenEval
categories, held-out filter), grammar (captions), stories/articles/decks/documents (documents),
heldout (the versioned held-out list), dataset (the dataset folder), stream (in-memory batches),
contact (contact sheets).
"""
