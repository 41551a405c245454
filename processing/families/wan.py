"""The Wan family (Wan-AI Wan 2.1 and 2.2, and the tiny-random-wan test model): WanPipeline for text
to video, WanImageToVideoPipeline for image to video (Wan 2.2 TI2V-5B does both with one set of
weights: `expand_timesteps`), the UniPC flow-matching scheduler, the tiny model built from config,
and how the speed options patch its transformer (fused projections through diffusers' own
`fuse_projections`, a chosen attention kernel). The fast speed's step cache is CogVideoX's only."""
from __future__ import annotations

import torch

WEIGHTS_SEED = 0
TEXT_DIM = 32

# Wan 2.2's VAE layout (4x16x16: patchified 2x2 then 8x8 convolutional downsampling, 48 latent
# channels) at a few KB: the tiny model runs the same pipeline code as Wan2.2-TI2V-5B.
TINY_VAE = {
    "base_dim": 8, "decoder_base_dim": 8, "z_dim": 48, "dim_mult": [1, 1, 1, 1], "num_res_blocks": 1,
    "temperal_downsample": [False, True, True], "is_residual": True, "in_channels": 12, "out_channels": 12,
    "patch_size": 2, "scale_factor_temporal": 4, "scale_factor_spatial": 16,
    "latents_mean": [0.0] * 48, "latents_std": [1.0] * 48,
}
# Wan's scheduler (UniPC on flow-matching sigmas); flow_shift is set per preset in `configure`.
SCHEDULER_CONFIG = {"prediction_type": "flow_prediction", "use_flow_sigmas": True, "num_train_timesteps": 1000,
                    "flow_shift": 5.0}


def build_components(mode: str, max_text_tokens: int) -> dict:
    """A few-KB Wan 2.2 TI2V from config; same weights every time (seeded, global RNG untouched)."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from processing.tiny import build_tokenizer

    tokenizer = build_tokenizer(max_text_tokens)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        text_encoder = UMT5EncoderModel(UMT5Config(
            vocab_size=len(tokenizer), d_model=TEXT_DIM, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        ))
        vae = AutoencoderKLWan(**TINY_VAE)
        transformer = WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=48, out_channels=48,
            text_dim=TEXT_DIM, freq_dim=32, ffn_dim=32, num_layers=2, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
        )
    for module in (text_encoder, vae, transformer):
        module.eval()
    return {"tokenizer": tokenizer, "text_encoder": text_encoder, "vae": vae, "transformer": transformer,
            "scheduler": UniPCMultistepScheduler(**SCHEDULER_CONFIG)}


class WanAttnProcessor:
    """diffusers' WanAttnProcessor (text-to-video and Wan 2.2 TI2V: no separate image context)
    with the attention kernel chosen by the speed options (processing/optimize.py `attention`).

    Same maths as stock: projections (fused when `fuse_projections` ran), RMSNorm on q and k,
    Wan's interleaved RoPE, attention, output projection."""

    def __init__(self, backend: str = "default"):
        self.backend = backend

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None,
                 rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        from diffusers.models.transformers.transformer_wan import _get_qkv_projections

        from processing.optimize import attention

        query, key, value = _get_qkv_projections(attn, hidden_states, encoder_hidden_states)
        query, key = attn.norm_q(query), attn.norm_k(key)
        query, key, value = (t.unflatten(2, (attn.heads, -1)) for t in (query, key, value))
        if rotary_emb is not None:
            query, key = rotate(query, *rotary_emb), rotate(key, *rotary_emb)
        # (B, S, H, D) -> (B, H, S, D) views for the kernel, and back
        out = attention(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), self.backend,
                        attention_mask).transpose(1, 2)
        out = out.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


def rotate(hidden_states: torch.Tensor, freqs_cos: torch.Tensor, freqs_sin: torch.Tensor) -> torch.Tensor:
    """Wan's RoPE on interleaved pairs, as diffusers' WanAttnProcessor applies it."""
    x1, x2 = hidden_states.unflatten(-1, (-1, 2)).unbind(-1)
    cos, sin = freqs_cos[..., 0::2], freqs_sin[..., 1::2]
    out = torch.empty_like(hidden_states)
    out[..., 0::2] = x1 * cos - x2 * sin
    out[..., 1::2] = x1 * sin + x2 * cos
    return out.type_as(hidden_states)


@torch.no_grad()
def fuse_projections(attn) -> bool:
    """diffusers' own fusion (self-attention: one QKV Linear; cross-attention: one KV Linear), then
    frees the separate weights the fused path no longer reads."""
    if getattr(attn, "fused_projections", False) or attn.add_k_proj is not None:
        return False  # Wan 2.1 I2V's image context has its own projections: left as stock
    attn.fuse_projections()
    if attn.cross_attention_dim_head is None:
        attn.to_q = attn.to_k = attn.to_v = None
    else:
        attn.to_k = attn.to_v = None
    return True


class _Contiguous:
    """The first block gets the patch embedding's transposed view, the others contiguous tensors;
    one layout means one compiled graph for all blocks instead of two."""

    def __call__(self, hidden_states, *_args, **_kwargs):
        return hidden_states.contiguous()


class BlockList(torch.nn.ModuleList):
    """WanTransformer3DModel.forward loops `for block in self.blocks`: this list yields the layout
    fix-up first, then the blocks (parameters and state-dict keys stay those of the blocks)."""

    def __iter__(self):
        yield _Contiguous()
        yield from super().__iter__()


def expand_timesteps(preset) -> bool:
    """Wan 2.2 TI2V-5B: per-token timesteps (the first latent frame is the clean start image)."""
    return bool(preset.family_options.get("expand_timesteps", False))


class Wan:
    name = "wan"
    step_cache = False
    prewarm = False  # the first call compiles (and saves the compile cache); no stand-in yet

    def pipeline_class(self, preset, mode: str) -> type:
        from diffusers import WanImageToVideoPipeline, WanPipeline

        return WanImageToVideoPipeline if mode == "i2v" else WanPipeline

    def from_pretrained(self, preset, mode: str, weights: str, dtype, **kwargs):
        from diffusers import AutoencoderKLWan

        # Wan's VAE decodes in float32 (the model cards and diffusers' Wan docs recommend it).
        vae = AutoencoderKLWan.from_pretrained(weights, subfolder="vae", torch_dtype=torch.float32, **kwargs)
        return self.pipeline_class(preset, mode).from_pretrained(
            weights, vae=vae, torch_dtype=dtype, expand_timesteps=expand_timesteps(preset), **kwargs)

    def tiny_components(self, preset, mode: str) -> dict:
        components = build_components(mode, preset.max_text_tokens)
        if mode == "i2v":  # Wan 2.2 TI2V: the image goes in through the VAE, no image encoder
            components.update(image_encoder=None, image_processor=None)
        return {**components, "expand_timesteps": expand_timesteps(preset)}

    def configure(self, pipe, preset) -> None:
        from diffusers import UniPCMultistepScheduler

        shift = preset.family_options.get("flow_shift", pipe.scheduler.config.get("flow_shift"))
        pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=shift)
        if pipe.vae.dtype != torch.float32:
            pipe.vae.to(torch.float32)

    def call_arguments(self, preset, mode: str) -> dict:
        return {}

    def blocks(self, transformer) -> list:
        return list(transformer.blocks._modules.values())

    def patch_attention(self, block, fuse: bool, kernel: str) -> int:
        fused = 0
        for attn in (block.attn1, block.attn2):
            if fuse:
                fused += fuse_projections(attn)
            if attn.add_k_proj is None:
                attn.set_processor(WanAttnProcessor(kernel))
        return fused

    def wrap_blocks(self, transformer, blocks: list, cache) -> None:
        transformer.blocks = BlockList(blocks)

    def transformer_class(self) -> type:
        from diffusers import WanTransformer3DModel

        return WanTransformer3DModel

    def warm_inputs(self, model, shape, device, dtype) -> dict:
        raise NotImplementedError("Wan has no prewarm stand-in (Wan.prewarm is False)")


FAMILY = Wan()
