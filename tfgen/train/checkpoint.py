"""Checkpoint I/O: the checkpoint directory, the VAE directory and the training state, safetensors and JSON only.

A checkpoint directory (DESIGN.md section 6) holds `config.json`, `model.safetensors` (EMA weights),
`vae.safetensors`, `tokenizer.json` and `MODEL_CARD.md`. `config.json` records the size and SHA-256 of
every other file, so a damaged, truncated or swapped file is named, with what is wrong, at load time.
Nothing here unpickles or executes anything: loading a checkpoint cannot run code.

The training state for an exact resume is any nested tree of dicts, lists, tuples, numbers, strings and
tensors (model and optimiser state dicts, RNG states, data position): its tensors go to
`train_state.safetensors`, the tree's shape and plain values to `train_state.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import safetensors
import safetensors.torch
import torch

from tfgen.atomic import write_bytes_atomic, write_folder_atomic, write_text_atomic
from tfgen.errors import OutputError, TfgenError
from tfgen.model.tokenizer import TextTokenizer
from tfgen.model.vae import VAE, VAEConfig

CHECKPOINT_FORMAT = "tfgen.checkpoint/1"
VAE_FORMAT = "tfgen.vae/1"
TRAIN_STATE_FORMAT = "tfgen.train_state/1"
CONFIG_FILE, MODEL_FILE, VAE_FILE, TOKENIZER_FILE, CARD_FILE = (
    "config.json", "model.safetensors", "vae.safetensors", "tokenizer.json", "MODEL_CARD.md",
)
VAE_CONFIG_FILE = "vae.json"
META_ABOVE_PARAMS = 100_000_000  # models checked for shape on the meta device; smaller ones (~0.4 GB, ~1 s) on the CPU
STATE_TENSORS_FILE, STATE_JSON_FILE = "train_state.safetensors", "train_state.json"


class CheckpointError(TfgenError):
    """A checkpoint, VAE or training-state file that is missing, damaged or does not match its config."""


@dataclass
class VAEBundle:
    """A trained VAE and what is needed to use its latents."""

    vae: VAE
    scale_factor: float  # latents are multiplied by this before the transformer sees them
    image_size: int
    info: dict[str, Any]  # the rest of vae.json / config.json["vae"] (metrics, training data)


@dataclass
class Checkpoint:
    """Everything in a checkpoint directory, checked against config.json."""

    directory: Path
    config: dict[str, Any]
    model_state: dict[str, torch.Tensor]  # EMA weights, for the model config in config["model"]
    vae: VAEBundle
    tokenizer: TextTokenizer
    model_card: str


# --- checkpoint directory --------------------------------------------------------------------


def save_checkpoint(
    directory: str | os.PathLike,
    config: Mapping[str, Any],
    model_state: Mapping[str, torch.Tensor],
    vae: VAEBundle,
    tokenizer: TextTokenizer,
    model_card: str,
) -> Path:
    """Write a checkpoint directory, replacing any old one whole (never half-written).

    `config` holds the model config ("model") and free-form sections (objective, training, sampler);
    the "vae", "tokenizer" and "files" sections are filled in here.
    """
    full = dict(config)
    full["format"] = CHECKPOINT_FORMAT
    full["vae"] = _vae_section(vae)
    full["tokenizer"] = {"vocab_size": tokenizer.vocab_size}
    blobs = {
        MODEL_FILE: _tensor_bytes(model_state, MODEL_FILE),
        VAE_FILE: _tensor_bytes(vae.vae.state_dict(), VAE_FILE),
        TOKENIZER_FILE: tokenizer.to_json().encode("utf-8"),
        CARD_FILE: model_card.encode("utf-8"),
    }
    full["files"] = {name: _fingerprint(data) for name, data in blobs.items()}
    blobs[CONFIG_FILE] = (json.dumps(full, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return _write_folder(Path(directory), blobs)


def load_checkpoint(directory: str | os.PathLike) -> Checkpoint:
    """Read and check a checkpoint directory; any problem is a CheckpointError naming the file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError("not a checkpoint directory (not found)", where=str(directory))
    config = _read_json(directory / CONFIG_FILE)
    if config.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"format is {config.get('format')!r}, expected {CHECKPOINT_FORMAT!r}", where=str(directory / CONFIG_FILE))
    files = config.get("files")
    if not isinstance(files, dict):
        raise CheckpointError("has no 'files' section", where=str(directory / CONFIG_FILE))
    blobs = {name: _read_checked(directory / name, files.get(name)) for name in (MODEL_FILE, VAE_FILE, TOKENIZER_FILE, CARD_FILE)}
    model_state = _tensors_from_bytes(blobs[MODEL_FILE], directory / MODEL_FILE)
    vae_tensors = _tensors_from_bytes(blobs[VAE_FILE], directory / VAE_FILE)
    vae = _vae_from_section(config.get("vae"), vae_tensors, directory / CONFIG_FILE, directory / VAE_FILE)
    tokenizer = TextTokenizer.from_json(blobs[TOKENIZER_FILE].decode("utf-8", "replace"), where=str(directory / TOKENIZER_FILE))
    expected_vocab = config.get("tokenizer", {}).get("vocab_size")
    if expected_vocab != tokenizer.vocab_size:
        raise CheckpointError(
            f"has {tokenizer.vocab_size} tokens but config.json says {expected_vocab}", where=str(directory / TOKENIZER_FILE)
        )
    _check_model_weights(config.get("model"), model_state, tokenizer, vae, directory)
    card = blobs[CARD_FILE].decode("utf-8", "replace")
    return Checkpoint(directory, config, model_state, vae, tokenizer, card)


def _check_model_weights(section: Any, tensors: Mapping[str, torch.Tensor], tokenizer: TextTokenizer,
                         vae: VAEBundle, directory: Path) -> None:
    """model.safetensors must fit config.json's model, whose vocabulary and latents must fit the tokenizer and VAE."""
    from tfgen.model.config import model_config_from_mapping
    from tfgen.model.transfusion import Transfusion

    config_path = directory / CONFIG_FILE
    if not isinstance(section, dict):
        raise CheckpointError("has no 'model' section", where=str(config_path))
    cfg = model_config_from_mapping(section, where=f"{config_path}: model")
    if cfg.vocab_size != tokenizer.vocab_size:
        raise CheckpointError(f"has {tokenizer.vocab_size} tokens but the model expects {cfg.vocab_size}",
                              where=str(directory / TOKENIZER_FILE))
    latent = vae.vae.cfg.latent_shape(vae.image_size)
    if latent != (cfg.latent_channels, cfg.latent_size, cfg.latent_size):
        raise CheckpointError(f"the VAE makes latents {latent} but the model expects "
                              f"{(cfg.latent_channels, cfg.latent_size, cfg.latent_size)}", where=str(config_path))
    # Initialising on the meta device costs no memory but imports torch._dynamo (~1.5 s, more than
    # building a small model for real), so only models too big to build in passing go there.
    rough_params = cfg.n_layers * 12 * cfg.d_model**2 + 2 * cfg.vocab_size * cfg.d_model
    if rough_params <= META_ABOVE_PARAMS:
        with torch.random.fork_rng(devices=[]):  # the initial values are thrown away: leave the global RNG alone
            net = Transfusion(cfg)
    else:
        with torch.device("meta"):
            net = Transfusion(cfg)
    expected = {name: t.shape for name, t in net.state_dict().items() if t.is_floating_point()}
    check_state_shapes(expected, tensors, where=str(directory / MODEL_FILE))


def check_state_shapes(expected: Mapping[str, torch.Size], tensors: Mapping[str, torch.Tensor], where: str) -> None:
    """Raise CheckpointError unless `tensors` has exactly the names and shapes of `expected`."""
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise CheckpointError(f"tensor {missing[0]!r} is missing ({len(missing)} missing in all); wrong file for this config?", where=where)
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise CheckpointError(f"unexpected tensor {extra[0]!r} ({len(extra)} unexpected in all); wrong file for this config?", where=where)
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != tuple(shape):
            raise CheckpointError(
                f"tensor {name!r} has shape {tuple(tensors[name].shape)}, the config needs {tuple(shape)}", where=where
            )


# --- VAE directory (the output of `tfgen train-vae`) -----------------------------------------


def save_vae_dir(directory: str | os.PathLike, bundle: VAEBundle) -> Path:
    """Write `vae.safetensors` and `vae.json` (config, scale factor, metrics) into `directory`."""
    data = _tensor_bytes(bundle.vae.state_dict(), VAE_FILE)
    info = {"format": VAE_FORMAT, **_vae_section(bundle), "files": {VAE_FILE: _fingerprint(data)}}
    text = json.dumps(info, indent=2, ensure_ascii=False) + "\n"
    return _write_folder(Path(directory), {VAE_FILE: data, VAE_CONFIG_FILE: text.encode("utf-8")})


def load_vae_dir(directory: str | os.PathLike) -> VAEBundle:
    """Read a VAE directory, or the VAE of a full checkpoint directory."""
    directory = Path(directory)
    if (directory / CONFIG_FILE).is_file() and not (directory / VAE_CONFIG_FILE).is_file():
        return load_checkpoint(directory).vae
    info = _read_json(directory / VAE_CONFIG_FILE)
    if info.get("format") != VAE_FORMAT:
        raise CheckpointError(f"format is {info.get('format')!r}, expected {VAE_FORMAT!r}", where=str(directory / VAE_CONFIG_FILE))
    files = info.get("files") if isinstance(info.get("files"), dict) else {}
    data = _read_checked(directory / VAE_FILE, files.get(VAE_FILE))
    tensors = _tensors_from_bytes(data, directory / VAE_FILE)
    return _vae_from_section(info, tensors, directory / VAE_CONFIG_FILE, directory / VAE_FILE)


def _vae_section(bundle: VAEBundle) -> dict[str, Any]:
    section = {k: v for k, v in bundle.info.items() if k not in ("config", "scale_factor", "image_size", "format", "files")}
    return {"config": bundle.vae.cfg.to_dict(), "scale_factor": float(bundle.scale_factor), "image_size": bundle.image_size, **section}


def _vae_from_section(section: Any, tensors: dict[str, torch.Tensor], config_path: Path, vae_path: Path) -> VAEBundle:
    if not isinstance(section, dict):
        raise CheckpointError("has no 'vae' section", where=str(config_path))
    try:
        cfg = VAEConfig.from_dict(section.get("config"), where="vae.config")
    except TfgenError as exc:
        raise CheckpointError(exc.message, where=f"{config_path}: {exc.where}") from None
    scale, size = section.get("scale_factor"), section.get("image_size")
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
        raise CheckpointError(f"vae scale_factor must be a positive number, not {scale!r}", where=str(config_path))
    if not isinstance(size, int) or isinstance(size, bool) or size < cfg.downsample or size % cfg.downsample:
        raise CheckpointError(f"vae image_size must be a positive multiple of {cfg.downsample}, not {size!r}", where=str(config_path))
    vae = VAE(cfg)
    expected = {name: t.shape for name, t in vae.state_dict().items()}
    check_state_shapes(expected, tensors, where=str(vae_path))
    vae.load_state_dict(tensors)
    vae.eval()
    info = {k: v for k, v in section.items() if k not in ("config", "scale_factor", "image_size", "format", "files")}
    return VAEBundle(vae, float(scale), size, info)


# --- training state ---------------------------------------------------------------------------


def save_train_state(run_dir: str | os.PathLike, state: Any) -> None:
    """Write a nested state tree to train_state.safetensors + train_state.json in `run_dir`.

    The JSON is written last and names the tensor file's checksum, so a crash between the two
    writes leaves a pair that `load_train_state` rejects rather than a silently mixed state.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode_tree(state, tensors)
    data = _tensor_bytes(tensors, STATE_TENSORS_FILE)
    write_bytes_atomic(run_dir / STATE_TENSORS_FILE, data)
    doc = {"format": TRAIN_STATE_FORMAT, "files": {STATE_TENSORS_FILE: _fingerprint(data)}, "state": tree}
    write_text_atomic(run_dir / STATE_JSON_FILE, json.dumps(doc) + "\n")


def load_train_state(run_dir: str | os.PathLike) -> Any:
    """Read back exactly the tree given to `save_train_state` (tensors with their dtypes)."""
    run_dir = Path(run_dir)
    doc = _read_json(run_dir / STATE_JSON_FILE)
    if doc.get("format") != TRAIN_STATE_FORMAT:
        raise CheckpointError(f"format is {doc.get('format')!r}, expected {TRAIN_STATE_FORMAT!r}", where=str(run_dir / STATE_JSON_FILE))
    files = doc.get("files") if isinstance(doc.get("files"), dict) else {}
    data = _read_checked(run_dir / STATE_TENSORS_FILE, files.get(STATE_TENSORS_FILE))
    tensors = _tensors_from_bytes(data, run_dir / STATE_TENSORS_FILE)
    return _decode_tree(doc.get("state"), tensors, str(run_dir / STATE_JSON_FILE))


def has_train_state(run_dir: str | os.PathLike) -> bool:
    return (Path(run_dir) / STATE_JSON_FILE).is_file()


def _encode_tree(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Plain JSON for a state tree; tensors and arrays are replaced by references into `tensors`."""
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        key = f"t{len(tensors)}"
        tensors[key] = torch.from_numpy(np.ascontiguousarray(obj).copy())
        return {"__ndarray__": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode_tree(v, tensors) for k, v in obj.items()}
        # Non-string keys (an optimiser's parameter indices) keep their type as pairs.
        return {"__dict__": [[_encode_tree(k, tensors), _encode_tree(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode_tree(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_encode_tree(v, tensors) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    raise TypeError(f"cannot store a {type(obj).__name__} in the training state")


def _decode_tree(obj: Any, tensors: Mapping[str, torch.Tensor], where: str) -> Any:
    if isinstance(obj, list):
        return [_decode_tree(v, tensors, where) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (tag, value), = obj.items()
        if tag in ("__tensor__", "__ndarray__"):
            if value not in tensors:
                raise CheckpointError(f"refers to tensor {value!r}, which train_state.safetensors lacks", where=where)
            return tensors[value] if tag == "__tensor__" else tensors[value].numpy()
        if tag == "__tuple__":
            return tuple(_decode_tree(v, tensors, where) for v in value)
        if tag == "__dict__":
            return {_decode_tree(k, tensors, where): _decode_tree(v, tensors, where) for k, v in value}
    return {k: _decode_tree(v, tensors, where) for k, v in obj.items()}


# --- file helpers -----------------------------------------------------------------------------


def _fingerprint(data: bytes) -> dict[str, Any]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _tensor_bytes(tensors: Mapping[str, torch.Tensor], name: str) -> bytes:
    # Tied or viewed weights share storage, which safetensors refuses: store independent copies.
    plain = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    try:
        return safetensors.torch.save(plain)
    except Exception as exc:  # safetensors raises several types for unsupported tensors
        raise OutputError(f"cannot serialise tensors ({exc})", where=name) from None


def _tensors_from_bytes(data: bytes, path: Path) -> dict[str, torch.Tensor]:
    try:
        return safetensors.torch.load(data)
    except Exception as exc:  # SafetensorError and others for a corrupt header
        raise CheckpointError(f"not a valid safetensors file ({exc})", where=str(path)) from None


def _read_checked(path: Path, fingerprint: Any) -> bytes:
    """Read `path` and compare it with the size and SHA-256 recorded for it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError("file is missing", where=str(path)) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read ({exc.strerror})", where=str(path)) from None
    if not isinstance(fingerprint, dict):
        raise CheckpointError("is not listed with its size and checksum in the config", where=str(path))
    if len(data) != fingerprint.get("bytes"):
        raise CheckpointError(
            f"is {len(data)} bytes but {fingerprint.get('bytes')} were written (truncated or replaced)", where=str(path)
        )
    if hashlib.sha256(data).hexdigest() != fingerprint.get("sha256"):
        raise CheckpointError("is damaged: its SHA-256 differs from the one recorded when it was written", where=str(path))
    return data


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError("file is missing", where=str(path)) from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"malformed JSON (line {exc.lineno}: {exc.msg})", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read ({exc})", where=str(path)) from None
    if not isinstance(data, dict):
        raise CheckpointError("must hold a JSON object", where=str(path))
    return data


def _write_folder(folder: Path, files: Mapping[str, bytes]) -> Path:
    """Write `files` into `folder`, which is replaced whole or left as it was."""
    return write_folder_atomic(folder, files)
