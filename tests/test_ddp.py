"""DDP on CPU: two gloo processes under torchrun match one process with the same global batch.

This file is also the worker torchrun starts (`python -m torch.distributed.run ... test_ddp.py OUT`):
the trainer code path is unchanged, rank and world size come from torchrun's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from test_trainer import StandInModel, StandInSource, single_process, tiny_config  # noqa: E402
from tfgen.train.trainer import Trainer  # noqa: E402

GLOBAL_BATCH, STEPS = 8, 5


def run_config(grad_accum: int):
    return tiny_config(steps=STEPS, batch_size=GLOBAL_BATCH, grad_accum=grad_accum, log_every=1, lr=1e-2,
                       warmup_steps=2)


def worker(out_dir: Path) -> None:
    """One rank: train with 1 and with 2 accumulation steps, writing this rank's weights and loss history."""
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    for accum in (1, 2):
        torch.manual_seed(0)  # the same initial weights on every rank, as DDP expects
        trainer = Trainer(run_config(grad_accum=accum), StandInModel(), StandInSource(GLOBAL_BATCH),
                          out_dir / f"run{accum}", show_progress=False)
        result = trainer.fit()
        tensors = {f"w.{k}": v.detach().clone() for k, v in trainer.model.state_dict().items()}
        tensors["loss"] = torch.tensor([f.loss for f in result.history], dtype=torch.float64)
        tensors["world_size"] = torch.tensor([trainer.ctx.world_size])
        save_file(tensors, str(out_dir / f"accum{accum}-rank{trainer.ctx.rank}.safetensors"))


def single_process_run(tmp_path: Path, grad_accum: int) -> tuple[Trainer, torch.Tensor]:
    torch.manual_seed(0)
    single = Trainer(run_config(grad_accum=grad_accum), StandInModel(), StandInSource(GLOBAL_BATCH),
                     tmp_path / f"single{grad_accum}", ctx=single_process(), show_progress=False)
    result = single.fit()
    return single, torch.tensor([f.loss for f in result.history], dtype=torch.float64)


def test_two_gloo_ranks_match_one_process(tmp_path):
    from safetensors.torch import load_file

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(Path(__file__).resolve()), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    torch.manual_seed(0)
    initial = StandInModel().state_dict()
    # 2 ranks x A micro-batches == one process with the same global batch in 2 * A micro-batches.
    for accum in (1, 2):
        ranks = [load_file(str(tmp_path / f"accum{accum}-rank{r}.safetensors")) for r in (0, 1)]
        assert int(ranks[0]["world_size"]) == 2
        single, expected_loss = single_process_run(tmp_path, grad_accum=2 * accum)
        assert len(expected_loss) == STEPS
        for rank in ranks:
            assert torch.allclose(rank["loss"], expected_loss, rtol=1e-5, atol=1e-6)
        for name, value in single.model.state_dict().items():
            assert torch.allclose(ranks[0][f"w.{name}"], value, atol=1e-5), name
            assert torch.allclose(ranks[1][f"w.{name}"], ranks[0][f"w.{name}"], atol=1e-6), name
        # And the run really trained: the weights moved away from the initial ones.
        assert not torch.allclose(ranks[0]["w.head.weight"], initial["head.weight"], atol=1e-3)


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
