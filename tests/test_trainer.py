"""The training loop, optimiser schedule, EMA rule and config, on a tiny stand-in model and batch source.

The stand-ins (also used by test_resume.py and test_ddp.py) follow the trainer's protocols:
a model whose forward(batch, generator=) returns {"loss", "lm", "image"}, with every sample
weighted equally; a source of fixed-shape global batches with state_dict()/load_state_dict().
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tfgen.errors import TfgenError
from tfgen.train.config import TrainConfig, load_train_config, train_config_from_mapping
from tfgen.train.distributed import DistContext, rank_micro_batches
from tfgen.train.ema import EmaWeights, ema_decay_for_run
from tfgen.train.optim import LrSchedule, build_adamw, split_decay_groups
from tfgen.train.trainer import Trainer

torch.set_num_threads(1)

VOCAB, SEQ, LATENT = 32, 12, 6


class StandInModel(nn.Module):
    """Next-token CE on tokens plus a noise-prediction MSE on a latent vector; per-sample means."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, width)
        self.mix = nn.Linear(width, width)
        self.norm_gain = nn.Parameter(torch.ones(width))
        self.head = nn.Linear(width, VOCAB)
        self.denoise = nn.Linear(LATENT, LATENT)

    def forward(self, batch: dict, generator: torch.Generator | None = None) -> dict:
        h = torch.tanh(self.mix(self.embed(batch["tokens"][:, :-1]))) * self.norm_gain
        lm = nn.functional.cross_entropy(self.head(h).transpose(1, 2), batch["tokens"][:, 1:])
        noise = torch.randn(batch["latents"].shape, generator=generator, device=batch["latents"].device)
        image = (self.denoise(batch["latents"] + noise) - noise).pow(2).mean()
        return {"loss": lm + 5.0 * image, "lm": lm, "image": image}


class StandInSource:
    """Global batches that depend only on (seed, position): a resumable data position."""

    def __init__(self, batch_size: int, seed: int = 0):
        self.batch_size, self.seed, self.position = batch_size, seed, 0

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.position)
        self.position += 1
        # Repeating patterns make the LM part learnable.
        start = torch.randint(0, VOCAB, (self.batch_size, 1), generator=g)
        tokens = (start + torch.arange(SEQ) * 3) % VOCAB
        latents = torch.randn(self.batch_size, LATENT, generator=g)
        return {"tokens": tokens, "latents": latents}

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.position = int(state["position"])


def single_process() -> DistContext:
    return DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), owns_group=False)


def tiny_config(**changes) -> TrainConfig:
    base = dict(steps=8, batch_size=4, warmup_steps=2, lr=1e-2, dtype="fp32", device="cpu", log_every=2,
                checkpoint_every=100, state_every=100)
    return train_config_from_mapping({**base, **changes})


def make_trainer(tmp_path, cfg: TrainConfig, seed: int = 0) -> Trainer:
    torch.manual_seed(seed)
    return Trainer(cfg, StandInModel(), StandInSource(cfg.batch_size), tmp_path, ctx=single_process(),
                   show_progress=False)


# ---- config ----

def test_config_rejects_unknown_key_naming_it(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[train]\nsteps = 10\nbatch_sise = 4\n")
    with pytest.raises(TfgenError) as info:
        load_train_config(path)
    assert "batch_sise" in str(info.value) and "unknown key" in str(info.value)


def test_config_rejects_wrong_type_naming_it(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[train]\nsteps = "ten"\n')
    with pytest.raises(TfgenError, match=r"train\.steps: must be int"):
        load_train_config(path)
    path.write_text("[train]\ncompile = 1\n")
    with pytest.raises(TfgenError, match=r"train\.compile: must be bool"):
        load_train_config(path)


def test_config_rejects_unknown_table_and_bad_values(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[trian]\nsteps = 1\n")
    with pytest.raises(TfgenError, match="trian"):
        load_train_config(path)
    with pytest.raises(TfgenError, match="dtype"):
        train_config_from_mapping({"dtype": "fp16"})
    with pytest.raises(TfgenError, match="batch_size"):
        train_config_from_mapping({"batch_size": 6, "grad_accum": 4})


def test_config_loads_and_flags_override(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[train]\nsteps = 50\nlr = 1\nseed = 3\n\n[model]\nd_model = 32\n")
    cfg = load_train_config(path)
    assert (cfg.steps, cfg.lr, cfg.seed) == (50, 1.0, 3)
    over = cfg.replace(steps=7, lr=None)
    assert (over.steps, over.lr, over.seed) == (7, 1.0, 3)
    with pytest.raises(TfgenError, match="flag.steps"):
        cfg.replace(steps=0)


# ---- schedule, optimiser groups, EMA rule ----

def test_lr_schedule_shape():
    sched = LrSchedule(peak=1.0, total_steps=110, warmup_steps=10, min_ratio=0.1)
    warm = [sched.lr_at(s) for s in range(10)]
    assert warm[0] == pytest.approx(0.1) and warm[-1] == pytest.approx(1.0)
    assert all(b > a for a, b in zip(warm, warm[1:]))  # strictly rising warm-up
    decay = [sched.lr_at(s) for s in range(10, 110)]
    assert decay[0] == pytest.approx(1.0)  # the peak
    assert all(b <= a for a, b in zip(decay, decay[1:]))  # monotone decay
    assert decay[-1] == pytest.approx(0.1)  # cosine end = peak * min_ratio at the last step
    mid = sched.lr_at(10 + 99 // 2)  # half way through the cosine: half way between peak and floor
    assert mid == pytest.approx(0.55, abs=0.02)


def test_weight_decay_on_matrices_only():
    model = StandInModel()
    decay, no_decay = split_decay_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim < 2 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    opt = build_adamw(model, 1e-3, 0.1)
    assert opt.defaults["betas"] == (0.9, 0.95)


def test_ema_decay_rule_half_life_is_a_share_of_the_run():
    for steps in (100, 1000, 50_000):
        decay = ema_decay_for_run(steps, 0.1)
        assert decay ** (0.1 * steps) == pytest.approx(0.5)
    assert ema_decay_for_run(1000, 0.1) == pytest.approx(0.993092, abs=1e-6)
    assert ema_decay_for_run(1, 0.1) == 0.5  # half-life never shorter than one step


def test_ema_update_follows_the_formula():
    model = nn.Linear(3, 2)
    ema = EmaWeights(model, decay=0.9)
    before = ema.shadow["weight"].clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update()
    assert torch.allclose(ema.shadow["weight"], 0.9 * before + 0.1 * model.weight)
    target = nn.Linear(3, 2)
    ema.copy_to(target)
    assert torch.equal(target.weight, ema.shadow["weight"])


# ---- the loop ----

def test_rank_micro_batches_cut_the_global_batch():
    batch = {"tokens": torch.arange(8)[:, None].repeat(1, 3)}
    ctx = DistContext(rank=1, world_size=2, local_rank=1, device=torch.device("cpu"), owns_group=False)
    parts = rank_micro_batches(batch, ctx, grad_accum=2)
    assert [p["tokens"][:, 0].tolist() for p in parts] == [[4, 5], [6, 7]]
    with pytest.raises(TfgenError, match="does not split"):
        rank_micro_batches({"tokens": torch.zeros(6, 2)}, ctx, grad_accum=2)


def test_training_lowers_the_loss(tmp_path):
    cfg = tiny_config(steps=60, lr=3e-2, warmup_steps=5, log_every=10, batch_size=8)
    trainer = make_trainer(tmp_path, cfg)
    first = trainer._forward(next(StandInSource(8, seed=5)))["loss"].item()
    result = trainer.fit()
    assert result.steps_done == 60 and result.last is not None
    assert result.last.loss < 0.5 * first
    assert result.last.tokens_per_s > 0


def test_gradient_accumulation_matches_one_big_batch(tmp_path):
    one = make_trainer(tmp_path / "a", tiny_config(batch_size=8, grad_accum=1))
    accum = make_trainer(tmp_path / "b", tiny_config(batch_size=8, grad_accum=4))
    # Same noise on both sides: the stand-in draws it per micro-batch, so use a model without noise.
    for trainer in (one, accum):
        trainer._passes_generator = False
    one.model.forward = _noiseless(one.model)
    accum.model.forward = _noiseless(accum.model)
    one.fit()
    accum.fit()
    for (name, a), (_, b) in zip(one.model.named_parameters(), accum.model.named_parameters()):
        assert torch.allclose(a, b, atol=1e-5), name


def _noiseless(model: StandInModel):
    def forward(batch, generator=None):
        h = torch.tanh(model.mix(model.embed(batch["tokens"][:, :-1]))) * model.norm_gain
        lm = nn.functional.cross_entropy(model.head(h).transpose(1, 2), batch["tokens"][:, 1:])
        return {"loss": lm, "lm": lm}
    return forward


def test_ema_tracks_the_weights_and_differs_from_them(tmp_path):
    trainer = make_trainer(tmp_path, tiny_config(steps=10))
    start = trainer.ema.shadow["head.weight"].clone()
    trainer.fit()
    raw, ema = trainer.model.head.weight.detach(), trainer.ema.shadow["head.weight"]
    assert not torch.equal(ema, raw) and not torch.equal(ema, start)
    # The EMA lies between the start and the end, closer to neither extreme alone.
    assert (ema - start).norm() < (raw - start).norm()


def test_checkpoint_callback_runs_on_schedule(tmp_path):
    seen = []
    cfg = tiny_config(steps=7, checkpoint_every=3)
    torch.manual_seed(0)
    trainer = Trainer(cfg, StandInModel(), StandInSource(4), tmp_path, ctx=single_process(),
                      on_checkpoint=lambda t: seen.append(t.step), show_progress=False)
    trainer.fit()
    assert seen == [3, 6, 7]


def test_non_finite_loss_is_a_clear_error(tmp_path):
    trainer = make_trainer(tmp_path, tiny_config(steps=4, log_every=1))
    with torch.no_grad():
        trainer.model.norm_gain.fill_(math.nan)
    with pytest.raises(TfgenError, match="not finite at step 1"):
        trainer.fit()


def test_data_running_out_is_a_clear_error(tmp_path):
    class Short(StandInSource):
        def __next__(self):
            if self.position >= 2:
                raise StopIteration
            return super().__next__()

    torch.manual_seed(0)
    trainer = Trainer(tiny_config(steps=5), StandInModel(), Short(4), tmp_path, ctx=single_process(),
                      show_progress=False)
    with pytest.raises(TfgenError, match="ran out at step 2"):
        trainer.fit()


def test_auto_dtype_keeps_narrow_models_in_fp32_on_cpu():
    from tfgen.train.trainer import BF16_MIN_WIDTH_CPU, cpu_has_amx, model_width, resolve_dtype

    cpu = torch.device("cpu")
    assert model_width(StandInModel(width=16)) == 16  # the widest short side: d_model
    assert resolve_dtype("auto", cpu, StandInModel()) == torch.float32
    wide = nn.Sequential(nn.Linear(BF16_MIN_WIDTH_CPU, BF16_MIN_WIDTH_CPU))
    assert resolve_dtype("auto", cpu, wide) == (torch.bfloat16 if cpu_has_amx() else torch.float32)
    assert resolve_dtype("fp32", cpu, wide) == torch.float32 and resolve_dtype("bf16", cpu) == torch.bfloat16


def test_bf16_autocast_trains(tmp_path):
    trainer = make_trainer(tmp_path, tiny_config(steps=4, dtype="bf16"))
    assert trainer.autocast_dtype == torch.bfloat16
    result = trainer.fit()
    assert math.isfinite(result.last.loss)
    assert trainer.model.head.weight.dtype == torch.float32  # master weights stay fp32


# ---- the real thing: `tfgen train` on a small dataset with the tiny preset ----

def make_dataset_and_vae(root):
    """12 one-image comic documents (32 px) and an untrained VAE (4x down, 4 channels: the tiny preset's latents)."""
    from conftest import make_image
    from tfgen.document import Document, TextSegment
    from tfgen.model.vae import VAE, VAEConfig
    from tfgen.train.checkpoint import VAEBundle, save_vae_dir
    from tfgen.train.dataset import write_dataset

    colours = ["#3366cc", "#cc3333", "#33aa55", "#ddaa22"]
    docs = [Document([TextSegment(f"# Story {i}\n\nA fox sees a light."), make_image(32, 32, colours[i % 4], "x"),
                      TextSegment("The end.")], kind="comic", prompt=f"a fox and lantern {colours[i % 4]}")
            for i in range(12)]
    write_dataset(root / "data", docs, image_size=32)
    torch.manual_seed(0)
    vae = VAE(VAEConfig.for_downsample(4, latent_channels=4, base_channels=8))
    save_vae_dir(root / "vae", VAEBundle(vae, 1.0, 32, {}))
    return root / "data", root / "vae"


def cli_app():
    from tfgen.cli import app

    return app


def test_tfgen_train_tiny_writes_a_checkpoint_that_loads(tmp_path):
    from typer.testing import CliRunner

    from tfgen.model.config import model_config_from_mapping
    from tfgen.model.transfusion import Transfusion
    from tfgen.train.checkpoint import load_checkpoint

    data, vae = make_dataset_and_vae(tmp_path)
    config = tmp_path / "run.toml"
    config.write_text("[train]\nsteps = 6\nbatch_size = 2\nseq_len = 64\nlog_every = 3\nwarmup_steps = 2\n"
                      "lr = 1e-3\nnum_threads = 1\n\n[model]\npreset = \"tiny\"\nmax_seq_len = 64\n")
    args = ["train", "--config", str(config), "--data", str(data), "--vae", str(vae), "--out", str(tmp_path / "run"),
            "--device", "cpu", "--dtype", "fp32"]
    runner = CliRunner()
    result = runner.invoke(cli_app(), args)
    assert result.exit_code == 0, result.output
    assert "done: 6 steps" in result.output
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint")
    assert ckpt.config["training"]["steps_done"] == 6
    model_cfg = model_config_from_mapping(ckpt.config["model"])
    assert model_cfg.max_seq_len == 64 and model_cfg.vocab_size == ckpt.tokenizer.vocab_size
    Transfusion(model_cfg).load_state_dict(ckpt.model_state)  # every EMA weight fits the model

    # Running again into the same directory without --resume is refused; with --resume it has nothing left to do.
    again = runner.invoke(cli_app(), args)
    assert again.exit_code == 1 and "--resume" in again.output
    resumed = runner.invoke(cli_app(), args + ["--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "resumed at step 6" in resumed.output

    # Fine-tuning starts from the checkpoint's weights (and brings its tokenizer and VAE along).
    tuned = runner.invoke(cli_app(), ["train", "--config", str(config), "--data", str(data), "--out",
                                      str(tmp_path / "tuned"), "--init-from", str(tmp_path / "run" / "checkpoint"),
                                      "--steps", "2", "--lr", "1e-5", "--device", "cpu", "--dtype", "fp32"])
    assert tuned.exit_code == 0, tuned.output
    from tfgen.train.pipeline import build_model

    after = load_checkpoint(tmp_path / "tuned" / "checkpoint").model_state
    fresh = build_model(model_cfg, seed=0).state_dict()  # what training from scratch would start from
    drift = max((after[k] - v).abs().max().item() for k, v in ckpt.model_state.items())
    trained = max((fresh[k] - v).abs().max().item() for k, v in ckpt.model_state.items())
    assert drift < trained / 10


def test_fine_tune_with_vae_moves_the_model_onto_that_vae(tmp_path):
    from typer.testing import CliRunner

    from tfgen.model.vae import VAE, VAEConfig
    from tfgen.train.checkpoint import VAEBundle, load_checkpoint, save_vae_dir

    data, vae = make_dataset_and_vae(tmp_path)
    config = tmp_path / "run.toml"
    config.write_text("[train]\nsteps = 2\nbatch_size = 2\nseq_len = 64\nwarmup_steps = 1\nnum_threads = 1\n\n"
                      "[model]\npreset = \"tiny\"\nmax_seq_len = 64\n")
    common = ["--config", str(config), "--data", str(data), "--device", "cpu", "--dtype", "fp32"]
    runner = CliRunner()
    assert runner.invoke(cli_app(), ["train", *common, "--vae", str(vae), "--out", str(tmp_path / "run")]).exit_code == 0
    torch.manual_seed(1)  # same shape, other weights: a refined VAE
    save_vae_dir(tmp_path / "vae2", VAEBundle(VAE(VAEConfig.for_downsample(4, latent_channels=4, base_channels=8)),
                                              0.5, 32, {}))
    init = ["--init-from", str(tmp_path / "run" / "checkpoint")]
    tuned = runner.invoke(cli_app(), ["train", *common, *init, "--vae", str(tmp_path / "vae2"),
                                      "--out", str(tmp_path / "tuned")])
    assert tuned.exit_code == 0, tuned.output
    new_vae, old_vae = load_checkpoint(tmp_path / "tuned" / "checkpoint").vae, load_checkpoint(
        tmp_path / "run" / "checkpoint").vae
    assert new_vae.scale_factor == 0.5 and old_vae.scale_factor == 1.0
    key = next(iter(new_vae.vae.state_dict()))
    assert not torch.equal(new_vae.vae.state_dict()[key], old_vae.vae.state_dict()[key])

    save_vae_dir(tmp_path / "vae8", VAEBundle(VAE(VAEConfig.for_downsample(4, latent_channels=8, base_channels=8)),
                                              1.0, 32, {}))
    wrong = runner.invoke(cli_app(), ["train", *common, *init, "--vae", str(tmp_path / "vae8"),
                                      "--out", str(tmp_path / "wrong")])
    assert wrong.exit_code == 1 and "--vae" in wrong.output and "Traceback" not in wrong.output


def test_tfgen_train_bad_input_is_one_line(tmp_path):
    from typer.testing import CliRunner

    data, vae = make_dataset_and_vae(tmp_path)
    runner = CliRunner()
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nstep = 5\n")
    result = runner.invoke(cli_app(), ["train", "--config", str(bad)])
    assert result.exit_code == 1 and "train.step: unknown key" in result.output
    result = runner.invoke(cli_app(), ["train", "--data", str(tmp_path / "nowhere"), "--vae", str(vae),
                                       "--out", str(tmp_path / "r"), "--device", "cpu"])
    assert result.exit_code == 1 and "nowhere" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli_app(), ["train", "--data", str(data), "--out", str(tmp_path / "r2"), "--device", "cpu"])
    assert result.exit_code == 1 and "--vae" in result.output


def test_fine_tune_may_change_training_switches_but_not_shapes():
    from tfgen.errors import TfgenError
    from tfgen.model.config import preset
    from tfgen.train.pipeline import fine_tune_config

    base = preset("tiny")
    tuned = fine_tune_config(base, {"preset": "world-s", "objective": "flow", "time_shift": 3.0, "d_model": base.d_model})
    assert (tuned.objective, tuned.time_shift) == ("flow", 3.0)
    assert tuned.d_model == base.d_model and tuned.vocab_size == base.vocab_size  # the preset key is not a base here
    with pytest.raises(TfgenError) as err:
        fine_tune_config(base, {"d_model": base.d_model * 2})
    assert err.value.where == "model.d_model" and "fine-tuning" in err.value.message
    with pytest.raises(TfgenError):
        fine_tune_config(base, {"time_shift": 3.0})  # still ddpm: the shift is a flow setting
