"""The detector's training loss: CenterNet's focal loss on the class heatmaps, L1 on box size and offset,
cross-entropy on colour and accessory, and an optional L1 on the four box edges.

The focal loss runs over every cell of every class map, (B, classes, G, G): 8.7 million values for a
batch of 64 at G = 32, where autograd's version of it (a dozen saved intermediates and their backward)
took more time than the network itself. `FocalLoss` computes the loss and its gradient together in a
few in-place passes, from weights the batch builder precomputes; the centres (a few per image) are
handled sparsely.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


class FocalLoss(torch.autograd.Function):
    """CenterNet's penalty-reduced focal loss of logits (B, N, G, G), given the negatives' weights
    (1 - t)^4 (0 at centres) of the same shape and the centres' flat indices (unique), divided by
    the number of centres.

    With p = sigmoid(z): a centre costs -log(p) (1 - p)^2, any other cell -log(1 - p) p^2 (1 - t)^4.
    The logs are log-sigmoids, so no clamp is needed; the gradient is the analytic d/dz of the loss.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, neg_weight: torch.Tensor,  # type: ignore[override]
                centres: torch.Tensor) -> torch.Tensor:
        z = logits.to(torch.promote_types(logits.dtype, torch.float32))
        p = torch.sigmoid(z)
        log_q = F.logsigmoid(-z)  # log(1 - p)
        wp2 = p.square().mul_(neg_weight)  # w p^2
        neg_loss = -torch.dot(log_q.flatten(), wp2.flatten())
        # d/dz [-log(1 - p) p^2 w] = w p^2 (p - 2 (1 - p) log(1 - p))
        grad = log_q.mul_(p - 1.0).mul_(2.0).add_(p).mul_(wp2)
        zc = z.flatten()[centres]
        pc, log_p = torch.sigmoid(zc), F.logsigmoid(zc)
        pos_loss = -(log_p * (1 - pc).square()).sum()
        # d/dz [-log(p) (1 - p)^2] = (1 - p)^2 (2 p log p - (1 - p))
        grad.view(-1)[centres] = (1 - pc).square() * (2 * pc * log_p - (1 - pc))
        n_pos = max(int(centres.numel()), 1)
        ctx.save_for_backward(grad.div_(n_pos).to(logits.dtype))
        return (pos_loss + neg_loss) / n_pos

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        return grad * grad_out.to(grad.dtype), None, None


def heat_weights(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A target heatmap -> the negatives' weights (1 - t)^4, 0 at centres, and the centres' flat indices."""
    centre = target.eq(1.0)
    return (1.0 - target).pow(4).masked_fill_(centre, 0.0), centre.flatten().nonzero().flatten()


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (FocalLoss); target is 1 exactly at object centres."""
    return FocalLoss.apply(logits, *heat_weights(target))


def box_edges(size: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Size (B, 2, G, G) as image fractions and offset (B, 2, G, G) in cells -> edges (B, 4, G, G) as image fractions.

    Edges are x0, y0, x1, y1 of the box centred at cell + offset, each relative to its cell's corner.
    """
    g = size.shape[-1]
    centre = offset / g
    return torch.cat([centre - size / 2, centre + size / 2], dim=1)


def detector_loss(maps: dict[str, torch.Tensor], tg: dict[str, torch.Tensor], size_weight: float,
                  edge_weight: float = 0.0) -> dict[str, torch.Tensor]:
    reg = tg["reg"].unsqueeze(1)  # (B, 1, G, G)
    denom = reg.sum().clamp(min=1.0)
    parts = {
        "heat": FocalLoss.apply(maps["heat"], tg["heat_weight"], tg["heat_centres"]),  # build_targets' weights
        "size": size_weight * ((maps["size"].float() - tg["size"]).abs() * reg).sum() / denom,
        "offset": ((maps["offset"].float() - tg["offset"]).abs() * reg).sum() / denom,
        "colour": F.cross_entropy(maps["colour"].float(), tg["colour"], ignore_index=IGNORE),
        "acc_kind": F.cross_entropy(maps["acc_kind"].float(), tg["acc_kind"], ignore_index=IGNORE),
    }
    if edge_weight > 0:  # exact centres only: the cells whose box the decoder reads
        centre = tg["reg"].eq(1.0).unsqueeze(1).float()  # (B, 1, G, G)
        err = box_edges(maps["size"].float(), maps["offset"].float()) - box_edges(tg["size"], tg["offset"])
        parts["edges"] = edge_weight * (err.abs() * centre).sum() / centre.sum().clamp(min=1.0)
    if (tg["acc_colour"] != IGNORE).any():
        parts["acc_colour"] = F.cross_entropy(maps["acc_colour"].float(), tg["acc_colour"], ignore_index=IGNORE)
    parts["total"] = sum(parts.values())
    return parts
