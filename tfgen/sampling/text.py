"""Choosing the next text token from logits: greedy, temperature, top-k and top-p (nucleus).

All randomness comes from the caller's torch.Generator, so a seed fixes the choice.
"""

from __future__ import annotations

import torch


def choose_token(logits: torch.Tensor, temperature: float, top_k: int, top_p: float,
                 generator: torch.Generator | None, banned: torch.Tensor | None = None) -> int:
    """One token id from `logits` (V,); `banned` (V,) bool marks ids that may not be chosen.

    temperature 0 is greedy (argmax); top_k 0 and top_p 1 switch those filters off.
    """
    scores = logits.detach().float().clone()
    if banned is not None:
        scores[banned.to(scores.device)] = float("-inf")
    if temperature == 0:
        return int(torch.argmax(scores))
    scores = scores / temperature
    if 0 < top_k < scores.numel():
        kth = torch.topk(scores, top_k).values[-1]
        scores[scores < kth] = float("-inf")
    if top_p < 1.0:
        ordered, order = torch.sort(scores, descending=True)
        probs = torch.softmax(ordered, dim=-1)
        # Drop a token once the ones before it already hold top_p of the mass (the first always stays).
        drop = (torch.cumsum(probs, dim=-1) - probs) >= top_p
        scores[order[drop]] = float("-inf")
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs.cpu(), 1, generator=generator))


def word_start_mask(tok, vocab_size: int) -> torch.Tensor:
    """(V,) bool, True where the token decodes to a space followed by a visible character (" All")."""
    return torch.tensor([len(t) > 1 and t[0] == " " and not t[1].isspace()
                         for t in (tok.decode([i]) for i in range(vocab_size))], dtype=torch.bool)


def banned_mask(vocab_size: int, ids: list[int], device: torch.device | str = "cpu") -> torch.Tensor:
    """(V,) bool, True at `ids`."""
    mask = torch.zeros(vocab_size, dtype=torch.bool, device=device)
    if ids:
        mask[torch.tensor(ids, device=device)] = True
    return mask
