"""Random-weight Kokoro models laid out like hexgrad/Kokoro-82M, built on the spot.

The directory is what the hub repository holds: `config.json` (the real key layout and
phoneme vocabulary), `kokoro-v1_0.pth` (a dict of state dicts, one per sub-network, as kokoro
saves them) and `voices/<name>.pt` style packs of shape [510, 1, 256]. Only the numbers are
fake, so the engine runs kokoro's real loading and inference code.

`size="real"` keeps every dimension of Kokoro-82M (82 M parameters). `size="tiny"` shrinks what
the architecture lets shrink: the PL-BERT (1 layer of 64 instead of 12 of 768), the prosody and
text encoders (1 layer instead of 3) and the vocoder's residual blocks (1 kernel instead of 3).
`hidden_dim` (512), `style_dim` (128) and the decoder's 1024/512 channels are wired into
kokoro's code and cannot change, so "tiny" is still ~45 M parameters.

Random duration weights would give every phoneme ~25 frames (0.6 s) and make each test
synthesize tens of seconds; the duration head is therefore biased to realistic lengths
(`frames_per_phoneme`, 25 ms each at 24 kHz).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch

# Kokoro-82M's phoneme symbols (misaki's set): punctuation, letters, IPA, tones. The ids are
# assigned in this order, leaving gaps unused; n_token stays 178 as in the real model.
SYMBOLS = (
    ';:,.!?—…"()“” \u0303ʣʥʦʨᵝ\uab67AIOQSTWYᵊabcdefhijklmnopqrstuvwxyz'
    "ɑɐɒæβɔɕçɖðʤəɚɛɜɟɡɥɨɪʝɯɰŋɳɲɴøɸθœɹɾɻʁɽʂʃʈʧʊʋʌɣɤχʎʒʔˈˌːʰʲ↓→↗↘ᵻ"
)
VOICES = ("pf_dora", "pm_alex", "pm_santa")
WEIGHTS = "kokoro-v1_0.pth"

Size = Literal["tiny", "real"]


def kokoro_config(size: Size = "tiny") -> dict[str, Any]:
    tiny = size == "tiny"
    return {
        "istftnet": {
            "upsample_kernel_sizes": [20, 12],
            "upsample_rates": [10, 6],
            "gen_istft_hop_size": 5,
            "gen_istft_n_fft": 20,
            "resblock_dilation_sizes": [[1, 3, 5]] * (1 if tiny else 3),
            "resblock_kernel_sizes": [3] if tiny else [3, 7, 11],
            "upsample_initial_channel": 512,
        },
        "dim_in": 64,
        "dropout": 0.2,
        "hidden_dim": 512,
        "max_conv_dim": 512,
        "max_dur": 50,
        "multispeaker": True,
        "n_layer": 1 if tiny else 3,
        "n_mels": 80,
        "n_token": 178,
        "style_dim": 128,
        "text_encoder_kernel_size": 5,
        "plbert": {
            "hidden_size": 64 if tiny else 768,
            "num_attention_heads": 2 if tiny else 12,
            "intermediate_size": 128 if tiny else 2048,
            "max_position_embeddings": 512,
            "num_hidden_layers": 1 if tiny else 12,
            "dropout": 0.1,
        },
        "vocab": {symbol: i for i, symbol in enumerate(SYMBOLS, 1)},
    }


def build_kokoro(
    directory: Path,
    size: Size = "tiny",
    voices: Sequence[str] = VOICES,
    frames_per_phoneme: float = 2.0,
    seed: int = 0,
) -> Path:
    """Write a complete Kokoro model directory with random weights; return it."""
    from kokoro import KModel

    directory.mkdir(parents=True, exist_ok=True)
    config = kokoro_config(size)
    (directory / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=1))
    torch.manual_seed(seed)
    empty = directory / "empty.pth"
    torch.save({}, empty)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation notes while kokoro builds modules
        model = KModel(repo_id="hexgrad/Kokoro-82M", config=config, model=str(empty))
    empty.unlink()
    _set_durations(model, config["max_dur"], frames_per_phoneme)
    torch.save({name: child.state_dict() for name, child in model.named_children()},
               directory / WEIGHTS)  # fmt: skip
    (directory / "voices").mkdir(exist_ok=True)
    for i, name in enumerate(voices):
        generator = torch.Generator().manual_seed(seed + 1 + i)
        pack = torch.randn((510, 1, 256), generator=generator) * 0.2
        torch.save(pack, directory / "voices" / f"{name}.pt")
    return directory


def _set_durations(model: Any, max_dur: int, frames: float) -> None:
    """Duration = sum over max_dur of sigmoid(logit): make every logit give `frames` in all."""
    projection = model.predictor.duration_proj.linear_layer
    with torch.no_grad():
        projection.weight.mul_(0.01)
        projection.bias.fill_(-math.log(max_dur / frames - 1))
