"""Exact resume: a run stopped and resumed ends bitwise equal to an uninterrupted one; damaged state is named."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from test_trainer import StandInModel, StandInSource, single_process, tiny_config
from tfgen.errors import TfgenError
from tfgen.train.resume import STATE_JSON, STATE_TENSORS, load_train_state
from tfgen.train.trainer import Trainer

torch.set_num_threads(1)


def build(run_dir, cfg, init_seed=0):
    torch.manual_seed(init_seed)
    return Trainer(cfg, StandInModel(), StandInSource(cfg.batch_size, seed=1), run_dir, ctx=single_process(),
                   show_progress=False)


def assert_same_run(a: Trainer, b: Trainer) -> None:
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(x, y), f"weights differ: {name}"
    for name, x in a.ema.state_dict().items():
        assert torch.equal(x, b.ema.state_dict()[name]), f"EMA differs: {name}"
    sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for index, slots in sa["state"].items():
        for key, value in slots.items():
            assert torch.equal(value, sb["state"][index][key]), f"optimiser {index}.{key} differs"
    assert a.step == b.step and a.source.state_dict() == b.source.state_dict()


def test_stopped_and_resumed_run_is_bitwise_equal(tmp_path):
    cfg = tiny_config(steps=8, grad_accum=2, warmup_steps=3)
    whole = build(tmp_path / "whole", cfg)
    whole.fit()

    first = build(tmp_path / "split", cfg)
    first.fit(stop_after=3)  # an interruption: the state is written when the run stops
    assert load_train_state(tmp_path / "split").step == 3
    # A fresh process would start from other weights and another global RNG state.
    torch.manual_seed(999)
    np.random.seed(7)
    second = build(tmp_path / "split", cfg, init_seed=42)
    assert second.resume()
    assert second.step == 3 and second.source.position == 3
    second.fit()
    assert_same_run(whole, second)


def test_resume_restores_global_rng_states(tmp_path):
    cfg = tiny_config(steps=2)
    trainer = build(tmp_path, cfg)
    trainer.fit()
    expected_torch, expected_np = torch.rand(3), np.random.rand(3)
    torch.manual_seed(5)
    np.random.seed(5)
    # Re-read the saved state: the draws after resume repeat the draws after the save.
    trainer_state_rng = load_train_state(tmp_path).rng
    assert "torch_cpu.rank0" in trainer_state_rng and "numpy.rank0" in trainer_state_rng
    again = build(tmp_path, cfg)
    again.resume()
    assert torch.equal(torch.rand(3), expected_torch)
    assert np.array_equal(np.random.rand(3), expected_np)


def test_state_is_safetensors_and_json_written_on_schedule(tmp_path):
    trainer = build(tmp_path, tiny_config(steps=7, state_every=3))
    saved_at = []
    save = trainer.save_state
    trainer.save_state = lambda: (saved_at.append(trainer.step), save())
    trainer.fit(stop_after=5)
    assert saved_at == [3, 5]  # every 3 steps, and when the run stops
    record = json.loads((tmp_path / STATE_JSON).read_text())
    assert record["format"] == "tfgen.train_state/1"
    assert (tmp_path / STATE_TENSORS).read_bytes()[8:9] == b"{"  # safetensors: length + JSON header
    assert load_train_state(tmp_path).step == 5


def test_state_is_also_written_every_few_minutes(tmp_path, monkeypatch):
    import tfgen.train.trainer as trainer_module

    clock = iter(range(0, 10_000, 100))  # every perf_counter() call advances 100 s
    monkeypatch.setattr(trainer_module.time, "perf_counter", lambda: float(next(clock)))
    trainer = build(tmp_path, tiny_config(steps=4, state_every=1000, log_every=1, state_every_seconds=150.0))
    saved_at = []
    save = trainer.save_state
    trainer.save_state = lambda: (saved_at.append(trainer.step), save())
    trainer.fit()
    assert saved_at[:-1] and saved_at[-1] == 4  # time-based saves before the final one


def test_resume_without_state_starts_fresh(tmp_path):
    trainer = build(tmp_path, tiny_config())
    assert trainer.resume() is False and trainer.step == 0


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage_json", "swap"])
def test_damaged_state_is_an_error_naming_the_file(tmp_path, damage):
    cfg = tiny_config(steps=4)
    build(tmp_path, cfg).fit(stop_after=2)
    tensors, record = tmp_path / STATE_TENSORS, tmp_path / STATE_JSON
    if damage == "truncate":
        tensors.write_bytes(tensors.read_bytes()[:-100])
        named = STATE_TENSORS
    elif damage == "flip":
        data = bytearray(tensors.read_bytes())
        data[-5] ^= 0xFF
        tensors.write_bytes(bytes(data))
        named = STATE_TENSORS
    elif damage == "garbage_json":
        record.write_text('{"format": "tfgen.train_state/1", "state": ')
        named = STATE_JSON
    else:  # tensors from another save next to this JSON
        other = tmp_path / "other"
        build(other, cfg).fit(stop_after=1)
        tensors.write_bytes((other / STATE_TENSORS).read_bytes())
        named = STATE_TENSORS
    with pytest.raises(TfgenError) as info:
        build(tmp_path, cfg).resume()
    assert named in str(info.value)


def test_resume_with_a_different_schedule_is_refused(tmp_path):
    build(tmp_path, tiny_config(steps=4)).fit(stop_after=2)
    with pytest.raises(TfgenError, match="steps"):
        build(tmp_path, tiny_config(steps=6)).resume()


def test_resume_into_a_different_model_is_refused(tmp_path):
    cfg = tiny_config(steps=4)
    build(tmp_path, cfg).fit(stop_after=2)
    torch.manual_seed(0)
    other = Trainer(cfg, StandInModel(width=8), StandInSource(4), tmp_path, ctx=single_process(), show_progress=False)
    with pytest.raises(TfgenError, match=STATE_TENSORS):
        other.resume()


def test_tiny_transfusion_on_packed_data_resumes_bitwise(tmp_path):
    """The real pipeline (tiny preset, packed dataset rows, bf16 autocast): stop at 2 of 5, resume, compare."""
    from test_trainer import make_dataset_and_vae
    from tfgen.train.batch_source import PrefetchSource
    from tfgen.train.config import train_config_from_mapping
    from tfgen.train.pipeline import prepare_run

    data, vae = make_dataset_and_vae(tmp_path)
    cfg = train_config_from_mapping(dict(steps=5, batch_size=4, grad_accum=2, seq_len=64, warmup_steps=2, lr=1e-3,
                                         dtype="bf16", device="cpu", data=str(data), vae=str(vae), log_every=5))
    model_table = {"preset": "tiny", "max_seq_len": 64}

    def trainer_for(run_dir, prefetch=False):
        run = prepare_run(cfg, run_dir, model_table)
        source = PrefetchSource(run.source) if prefetch else run.source
        return Trainer(cfg, run.module, source, run_dir, ctx=single_process(), show_progress=False)

    (tmp_path / "whole").mkdir()
    (tmp_path / "split").mkdir()
    whole = trainer_for(tmp_path / "whole")
    whole.fit()
    first = trainer_for(tmp_path / "split", prefetch=True)  # batches built ahead on a thread
    first.fit(stop_after=2)
    first.source.close()
    second = trainer_for(tmp_path / "split", prefetch=True)
    assert second.resume() and second.step == 2
    second.fit()
    second.source.close()
    assert_same_run(whole, second)
    assert whole.source.state_dict() == {"consumed": 20, "rows": len(whole.source.rows)}


def test_storyworld_source_has_fixed_shapes_and_resumes_exactly(tmp_path):
    from test_trainer import make_dataset_and_vae
    from tfgen.model.config import preset
    from tfgen.model.tokenizer import train_tokenizer
    from tfgen.train.checkpoint import load_vae_dir
    from tfgen.train.packing import PackingConfig
    from tfgen.train.world_source import WorldSource

    _, vae_dir = make_dataset_and_vae(tmp_path)
    vae = load_vae_dir(vae_dir)
    tokenizer = train_tokenizer(["a fox finds a lantern in the forest", "the owl said hello"] * 5, vocab_size=300)
    model_cfg = preset("tiny").replace(vocab_size=tokenizer.vocab_size)
    packing = PackingConfig(seq_len=96, max_images=2, patches_per_image=model_cfg.patches_per_image)

    def source():
        return WorldSource(tokenizer, vae, model_cfg, packing, batch_size=3, seed=4)

    first = source()
    batches = [next(first) for _ in range(2)]
    assert all(b.tokens.shape == (3, 96) and b.latents.shape == (3, 2, 4, 8, 8) for b in batches)
    assert bool(batches[0].image_valid.any()) and not torch.equal(batches[0].tokens, batches[1].tokens)
    state = first.state_dict()
    expected = next(first)
    again = source()
    again.load_state_dict(state)
    got = next(again)
    for name in ("tokens", "doc_id", "image_id", "latents", "image_t", "image_is_target", "image_drop_cond"):
        assert torch.equal(getattr(got, name), getattr(expected, name)), name


def test_prefetching_keeps_the_order_and_the_exact_data_position():
    from tfgen.train.batch_source import PrefetchSource

    bare = StandInSource(4, seed=2)
    expected = [next(bare)["tokens"] for _ in range(6)]
    ahead = PrefetchSource(StandInSource(4, seed=2), depth=3)
    got = [next(ahead)["tokens"] for _ in range(3)]
    time.sleep(0.2)  # let the worker run ahead
    assert ahead.state_dict() == {"position": 3}  # batches built ahead do not count as consumed
    assert ahead.source.position > 3
    ahead.load_state_dict({"position": 1})
    got += [next(ahead)["tokens"] for _ in range(2)]
    ahead.close()
    assert ahead.source.position == 3  # closing rewinds the wrapped source to the consumed position
    for g, e in zip(got, expected[:3] + expected[1:3]):
        assert torch.equal(g, e)


def test_prefetched_run_resumes_bitwise_and_reports_running_out(tmp_path):
    from tfgen.train.batch_source import PrefetchSource

    cfg = tiny_config(steps=6, warmup_steps=2)
    whole = build(tmp_path / "whole", cfg)
    whole.fit()

    def prefetched(run_dir):
        torch.manual_seed(0)
        return Trainer(cfg, StandInModel(), PrefetchSource(StandInSource(cfg.batch_size, seed=1)), run_dir,
                       ctx=single_process(), show_progress=False)

    first = prefetched(tmp_path / "split")
    first.fit(stop_after=2)
    first.source.close()
    second = prefetched(tmp_path / "split")
    assert second.resume()
    second.fit()
    second.source.close()
    assert_same_run(whole, second)

    class Short(StandInSource):
        def __next__(self):
            if self.position >= 2:
                raise StopIteration
            return super().__next__()

    torch.manual_seed(0)
    short = Trainer(tiny_config(steps=5), StandInModel(), PrefetchSource(Short(4)), tmp_path / "short",
                    ctx=single_process(), show_progress=False)
    with pytest.raises(TfgenError, match="ran out at step 2"):
        short.fit()
