"""Evaluation: the world detector (the judge), GenEval-style scoring and the `tfgen eval` suites.

detector/detector_train (the judge and its training), accuracy (the judge's own accuracy),
scoring (GenEval's rules), prompts (held-out prompt sets, renders, hard negatives), generation and
sampling_adapter (what a model must provide), compositional, consistency, documents, text, vae,
frechet (the suites), report and runner (assembling a report).
"""
