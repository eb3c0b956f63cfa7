"""`framegate models build-tiny DIR`: tiny random-weight Wan I2V models, built fully offline.

`anisora/` is Wan 2.1 I2V shaped (CLIP image encoder, `image_dim` set); `phr00t/` is one merged
Wan 2.2 transformer without image encoder (`image_dim=None`, no `transformer_2`). Both are
ordinary diffusers directories, loaded the same way as real weights.

`TransformerSize` makes the transformer larger (the GPU verification kit needs models of a few
GiB to see real VRAM come and go); everything else stays tiny.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from schemas.enums import ModelName

#: Small enough that a 9-frame 32x32 job runs in a fraction of a second on one CPU thread.
TEXT_DIM = 32
CLIP_DIM = 16
LATENT_CHANNELS = 16


@dataclass(frozen=True)
class TransformerSize:
    """The Wan transformer's shape (the default: tiny). `bf16` writes its weights in bfloat16."""

    num_layers: int = 2
    num_attention_heads: int = 2
    attention_head_dim: int = 12
    ffn_dim: int = 32
    bf16: bool = False

    def parameters(self) -> int:
        """Roughly how many weights the transformer holds (attention and feed-forward blocks)."""
        dim = self.num_attention_heads * self.attention_head_dim
        return self.num_layers * (10 * dim * dim + 2 * dim * self.ffn_dim)


TINY = TransformerSize()


def _tokenizer_vocab() -> list[tuple[str, float]]:
    """A Unigram vocabulary covering printable ASCII, so any prompt tokenizes without a download."""
    vocab: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    for char in string.ascii_letters + string.digits + string.punctuation:
        vocab.append((char, -5.0))
        vocab.append(("\u2581" + char, -4.0))
    return vocab


def build_tiny_models(
    directory: Path, seed: int = 0, size: TransformerSize = TINY, device: str = "cpu"
) -> dict[ModelName, Path]:
    """Write `directory/anisora` and `directory/phr00t`; returns model -> path. The random
    weights are drawn on `device` (a large transformer initialises in seconds on a GPU)."""
    import torch
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanImageToVideoPipeline,
        WanTransformer3DModel,
    )
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModel,
        T5Tokenizer,
        UMT5Config,
        UMT5EncoderModel,
    )

    torch.manual_seed(seed)
    written: dict[ModelName, Path] = {}
    for model in ModelName:
        tokenizer = T5Tokenizer(vocab=_tokenizer_vocab(), extra_ids=0)
        text_encoder = UMT5EncoderModel(
            UMT5Config(
                vocab_size=len(tokenizer),
                d_model=TEXT_DIM,
                d_kv=8,
                d_ff=64,
                num_layers=2,
                num_heads=4,
                relative_attention_num_buckets=8,
            )
        )
        vae = AutoencoderKLWan(
            base_dim=3,
            z_dim=LATENT_CHANNELS,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
        )
        is_anisora = model is ModelName.anisora
        with torch.device(device):
            transformer = WanTransformer3DModel(
                patch_size=(1, 2, 2),
                num_attention_heads=size.num_attention_heads,
                attention_head_dim=size.attention_head_dim,
                in_channels=LATENT_CHANNELS * 2 + 4,
                out_channels=LATENT_CHANNELS,
                text_dim=TEXT_DIM,
                freq_dim=32,
                ffn_dim=size.ffn_dim,
                num_layers=size.num_layers,
                cross_attn_norm=True,
                qk_norm="rms_norm_across_heads",
                rope_max_seq_len=32,
                image_dim=CLIP_DIM if is_anisora else None,
            )
        if size.bf16:
            transformer.to(torch.bfloat16)  # type: ignore[attr-defined]
        scheduler = FlowMatchEulerDiscreteScheduler(shift=5.0 if is_anisora else 8.0)
        image_encoder = None
        image_processor = None
        if is_anisora:
            image_encoder = CLIPVisionModel(
                CLIPVisionConfig(
                    hidden_size=CLIP_DIM,
                    projection_dim=CLIP_DIM,
                    num_hidden_layers=2,
                    num_attention_heads=2,
                    image_size=32,
                    intermediate_size=32,
                    patch_size=8,
                )
            )
            image_processor = CLIPImageProcessor(crop_size=32, size=32)
        pipe = WanImageToVideoPipeline(
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            vae=vae,
            scheduler=scheduler,
            image_processor=image_processor,
            image_encoder=image_encoder,
            transformer=transformer,
        )
        target = directory / model.value
        pipe.save_pretrained(target)  # type: ignore[attr-defined]
        written[model] = target
        del pipe, transformer  # a large transformer's weights go before the next one is drawn
    return written
