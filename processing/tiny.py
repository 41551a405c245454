"""The `tiny-random` preset: a few-KB CogVideoX built from config (random, seeded weights) for tests and GPU-less machines."""
from __future__ import annotations

# Latent grid 8x12 for the preset's 64x96 frames (VAE downsamples 8x in space, 4x in time).
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


def build_tokenizer(max_length: int):
    """Byte-level BPE with no merges: every prompt maps to ids, nothing is downloaded."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: i for i, token in enumerate(specials + sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", model_max_length=max_length)


def build_components(mode: str, max_text_tokens: int) -> dict:
    """Returns the pipeline's components; same weights every time (seeded, global RNG untouched)."""
    import torch
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel

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
