"""The CogVideoX family (THUDM CogVideoX 1.0 and 1.5, and the tiny-random test model): pipelines,
scheduler, call arguments, the tiny model built from config, and how the speed options patch its
transformer (one fused QKV projection, a chosen attention kernel, the two-stream step cache)."""
from __future__ import annotations

import torch

# Latent grid 8x12 for the tiny preset's 64x96 frames (VAE downsamples 8x in space, 4x in time).
SAMPLE_HEIGHT, SAMPLE_WIDTH, SAMPLE_FRAMES = 8, 12, 9
LATENT_CHANNELS = 4
TEXT_DIM = 32
WEIGHTS_SEED = 0

# Mirrors THUDM/CogVideoX-5b's scheduler config so the tiny model exercises the same maths.
SCHEDULER_CONFIG = {
    "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "clip_sample": False, "num_train_timesteps": 1000, "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True, "set_alpha_to_one": True, "snr_shift_scale": 1.0,
    "steps_offset": 0, "timestep_spacing": "trailing",
}


def build_components(mode: str, max_text_tokens: int) -> dict:
    """A few-KB CogVideoX from config; same weights every time (seeded, global RNG untouched)."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    from processing.tiny import build_tokenizer

    tokenizer = build_tokenizer(max_text_tokens)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        text_encoder = T5EncoderModel(T5Config(
            vocab_size=len(tokenizer), d_model=TEXT_DIM, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        ))
        vae = AutoencoderKLCogVideoX(
            in_channels=3, out_channels=3,
            down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
            block_out_channels=(8, 8, 8, 8), latent_channels=LATENT_CHANNELS, layers_per_block=1,
            norm_num_groups=2, temporal_compression_ratio=4,
            sample_height=SAMPLE_HEIGHT * 8, sample_width=SAMPLE_WIDTH * 8,
        )
        image_to_video = mode == "i2v"
        transformer = CogVideoXTransformer3DModel(
            num_attention_heads=2, attention_head_dim=16,
            # I2V concatenates the image latents on the channel axis, as THUDM's I2V model does.
            in_channels=LATENT_CHANNELS * (2 if image_to_video else 1), out_channels=LATENT_CHANNELS,
            time_embed_dim=16, text_embed_dim=TEXT_DIM, num_layers=2,
            sample_width=SAMPLE_WIDTH, sample_height=SAMPLE_HEIGHT, sample_frames=SAMPLE_FRAMES,
            patch_size=2, temporal_compression_ratio=4, max_text_seq_length=max_text_tokens,
            use_rotary_positional_embeddings=True, use_learned_positional_embeddings=image_to_video,
        )
    for module in (text_encoder, vae, transformer):
        module.eval()
    scheduler = CogVideoXDPMScheduler(**SCHEDULER_CONFIG)
    return {"tokenizer": tokenizer, "text_encoder": text_encoder, "vae": vae,
            "transformer": transformer, "scheduler": scheduler}


# --- attention --------------------------------------------------------------------------

class CogVideoXAttnProcessor:
    """diffusers' CogVideoXAttnProcessor2_0 with one QKV projection and a chosen attention kernel.

    Same maths as stock: LayerNorm on q and k, RoPE in fp32 on the video tokens, SDPA, output
    projection; with `to_qkv` present the three projections are one matrix multiply.
    """

    def __init__(self, backend: str = "default"):
        self.backend = backend

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                 attention_mask: torch.Tensor | None = None,
                 image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        from diffusers.models.embeddings import apply_rotary_emb

        from processing.optimize import attention

        text_seq_length = encoder_hidden_states.size(1)
        hidden_states = torch.cat([encoder_hidden_states, hidden_states], dim=1)
        batch_size, sequence_length, _ = hidden_states.shape

        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, sequence_length, batch_size)
            attention_mask = attention_mask.view(batch_size, attn.heads, -1, attention_mask.shape[-1])

        if getattr(attn, "to_qkv", None) is not None:
            query, key, value = attn.to_qkv(hidden_states).chunk(3, dim=-1)
        else:
            query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)

        head_dim = key.shape[-1] // attn.heads
        query, key, value = (t.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2) for t in (query, key, value))
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)

        if image_rotary_emb is not None:
            query = torch.cat([query[:, :, :text_seq_length],
                               apply_rotary_emb(query[:, :, text_seq_length:], image_rotary_emb)], dim=2)
            if not attn.is_cross_attention:
                key = torch.cat([key[:, :, :text_seq_length],
                                 apply_rotary_emb(key[:, :, text_seq_length:], image_rotary_emb)], dim=2)

        hidden_states = attention(query, key, value, self.backend, attention_mask)
        hidden_states = hidden_states.transpose(1, 2).reshape(batch_size, -1, attn.heads * head_dim)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        encoder_hidden_states, hidden_states = hidden_states.split(
            [text_seq_length, hidden_states.size(1) - text_seq_length], dim=1)
        return hidden_states, encoder_hidden_states


@torch.no_grad()
def fuse_qkv(attn) -> bool:
    """Replaces to_q/to_k/to_v by one Linear (`to_qkv`); the separate weights are freed."""
    from torch import nn

    if getattr(attn, "to_qkv", None) is not None or attn.to_k is None or attn.is_cross_attention:
        return False
    parts = (attn.to_q, attn.to_k, attn.to_v)
    weight = torch.cat([p.weight for p in parts])
    bias = torch.cat([p.bias for p in parts]) if attn.to_q.bias is not None else None
    fused = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None,
                      device=weight.device, dtype=weight.dtype)
    fused.weight.copy_(weight)
    if bias is not None:
        fused.bias.copy_(bias)
    attn.to_qkv = fused
    attn.fused_projections = True
    # Frees the separate weights; diffusers code reads the attributes, so they stay defined.
    attn.to_q = attn.to_k = attn.to_v = None
    return True


# --- the block list: layout fix-up and the step cache ---------------------------------------

def _contiguous(hidden_states, encoder_hidden_states, **_):
    """The first block gets strided slices of the patch embedding, the others contiguous tensors;
    one layout means one compiled graph for all blocks instead of two."""
    return _row_major(hidden_states), _row_major(encoder_hidden_states)


def _row_major(t: torch.Tensor) -> torch.Tensor:
    """`t` dense from offset 0 with the strides of a fresh tensor. `.contiguous()` is not enough for a
    batch of one row (a guidance-parallel worker's, processing/parallel.py, or guidance 1): a slice
    whose leading dim is 1 counts as contiguous and keeps its odd stride and offset, which the
    compiled graph's guards tell apart from the next block's input."""
    if t.is_contiguous() and t.storage_offset() == 0 and t.stride() == torch.empty(t.shape, device="meta").stride():
        return t
    return t.clone(memory_format=torch.contiguous_format)


class _CaptureInputs:
    def __init__(self, cache):
        self.cache = cache

    def __call__(self, hidden_states, encoder_hidden_states, **_):
        hidden_states, encoder_hidden_states = _contiguous(hidden_states, encoder_hidden_states)
        self.cache.inputs = (hidden_states, encoder_hidden_states)
        return hidden_states, encoder_hidden_states


class _RecordResiduals:
    def __init__(self, cache):
        self.cache = cache

    def __call__(self, hidden_states, encoder_hidden_states, **_):
        before_h, before_e = self.cache.inputs
        self.cache.residuals = (hidden_states.float() - before_h.float(),
                                encoder_hidden_states.float() - before_e.float())
        self.cache.inputs = None
        self.cache.computed += 1
        return hidden_states, encoder_hidden_states


class _ApplyResiduals:
    def __init__(self, cache):
        self.cache = cache

    def __call__(self, hidden_states, encoder_hidden_states, **_):
        residual_h, residual_e = self.cache.residuals
        self.cache.reused += 1
        return ((hidden_states.float() + residual_h).to(hidden_states.dtype),
                (encoder_hidden_states.float() + residual_e).to(encoder_hidden_states.dtype))


class BlockList(torch.nn.ModuleList):
    """The transformer's block list; iterating it yields the blocks (behind a layout fix-up),
    or, on a step the cache skips (optimize.StepCache), one residual reuse.

    CogVideoXTransformer3DModel.forward loops `for block in self.transformer_blocks`, so
    swapping the list is enough: parameters and state-dict keys stay those of the blocks.
    """

    def __init__(self, blocks, cache=None):
        super().__init__(blocks)
        self.cache = cache

    def __iter__(self):
        cache = self.cache
        if cache is None:
            yield _contiguous
            yield from super().__iter__()
        elif cache.computes_now():
            yield _CaptureInputs(cache)
            yield from super().__iter__()
            yield _RecordResiduals(cache)
        else:
            yield _ApplyResiduals(cache)


# --- prewarm: the one-block stand-in's inputs ------------------------------------------------

def latent_frame_count(frames: int, temporal_compression: int, patch_size_t: int | None) -> tuple[int, int]:
    """(latent frames the transformer sees, frames the pipeline pads so patch_size_t divides them)."""
    latent = (frames - 1) // temporal_compression + 1
    p_t = patch_size_t or 1
    extra = (p_t - latent % p_t) % p_t
    return latent + extra, extra


def rotary_stand_in(config, height: int, width: int, latent_frames: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Tables shaped, typed and laid out like the pipelines' RoPE (cos, sin), whose values the
    compile does not depend on. tests/test_optimize.py checks the layout against
    CogVideoXPipeline._prepare_rotary_positional_embeddings."""
    p, p_t = config.patch_size, config.patch_size_t
    frames = latent_frames if p_t is None else (latent_frames + p_t - 1) // p_t
    tokens = frames * (height // (8 * p)) * (width // (8 * p))
    cos = torch.zeros(tokens, config.attention_head_dim, device=device, dtype=torch.float32)
    return cos, torch.zeros_like(cos)


# --- the family -------------------------------------------------------------------------------

class CogVideoX:
    name = "cogvideox"
    step_cache = True
    prewarm = True

    def pipeline_class(self, preset, mode: str) -> type:
        from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline

        return CogVideoXImageToVideoPipeline if mode == "i2v" else CogVideoXPipeline

    def from_pretrained(self, preset, mode: str, weights: str, dtype, **kwargs):
        return self.pipeline_class(preset, mode).from_pretrained(weights, torch_dtype=dtype, **kwargs)

    def tiny_components(self, preset, mode: str) -> dict:
        return build_components(mode, preset.max_text_tokens)

    def configure(self, pipe, preset) -> None:
        from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler

        scheduler_cls = {"dpm": CogVideoXDPMScheduler, "ddim": CogVideoXDDIMScheduler}[preset.scheduler]
        pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config, timestep_spacing="trailing")

    def call_arguments(self, preset, mode: str) -> dict:
        return {"use_dynamic_cfg": preset.dynamic_cfg}

    def blocks(self, transformer) -> list:
        # The blocks themselves (iterating a BlockList yields helpers around them).
        return list(transformer.transformer_blocks._modules.values())

    def patch_attention(self, block, fuse: bool, kernel: str) -> int:
        fused = fuse_qkv(block.attn1) if fuse else False
        block.attn1.set_processor(CogVideoXAttnProcessor(kernel))
        return int(fused)

    def wrap_blocks(self, transformer, blocks: list, cache) -> None:
        transformer.transformer_blocks = BlockList(blocks, cache)

    def transformer_class(self) -> type:
        from diffusers import CogVideoXTransformer3DModel

        return CogVideoXTransformer3DModel

    def warm_inputs(self, model, shape, device, dtype) -> dict:
        config = model.config
        frames, _ = latent_frame_count(shape.frames, config.temporal_compression_ratio, config.patch_size_t)
        hidden = torch.randn(shape.batch, frames, config.in_channels, shape.height // 8, shape.width // 8,
                             device=device, dtype=dtype)
        text = torch.randn(shape.batch, shape.text_tokens, config.text_embed_dim, device=device, dtype=dtype)
        inputs = {"hidden_states": hidden, "encoder_hidden_states": text,
                  "timestep": torch.full((shape.batch,), 999, device=device, dtype=torch.long),
                  "return_dict": False}
        if config.use_rotary_positional_embeddings:
            inputs["image_rotary_emb"] = rotary_stand_in(config, shape.height, shape.width, frames, device)
        if getattr(config, "ofs_embed_dim", None):
            inputs["ofs"] = hidden.new_full((1,), 2.0)
        return inputs


FAMILY = CogVideoX()
