"""Loads the i2v start image safely and fits it to the preset's size (crop or pad)."""
from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from processing.errors import JobError
from processing.limits import LIMITS

MAX_PIXELS = LIMITS.image_max_pixels  # limits.json, shared with the bot
MAX_FILE_BYTES = LIMITS.image_max_bytes
# Transparent areas (logos, stickers) become white, as most viewers show them.
ALPHA_BACKGROUND = (255, 255, 255)
PAD_COLOUR = (0, 0, 0)
FITS = ("crop", "pad")


def _invalid(message: str) -> JobError:
    return JobError("INVALID_IMAGE", message, retryable=False)


def load_image(path: Path) -> Image.Image:
    """Opens, orients (EXIF) and flattens the image to RGB; rejects anything else."""
    if not path.is_file():
        raise _invalid(f"The image {path.name!r} was not found in the job's input.")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise _invalid(f"The image is too large; send one under {MAX_FILE_BYTES // 2**20} MiB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise _invalid(f"The image is {im.width}x{im.height} pixels; "
                                   f"send one under {MAX_PIXELS // 1_000_000} megapixels.")
                im.load()
                im = ImageOps.exif_transpose(im)
                return to_rgb(im)
    except JobError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _invalid(f"The image has too many pixels; send one under "
                       f"{MAX_PIXELS // 1_000_000} megapixels.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise _invalid("The attached file is not an image I can read "
                       "(send a PNG, JPEG or WebP).") from exc


def to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits instead of clipping to white.
        im = im.point(lambda v: v / 256).convert("L")
    return im.convert("RGB")


def fit_image(im: Image.Image, height: int, width: int, fit: str) -> Image.Image:
    """crop: fill the frame and centre-crop the overflow; pad: show all of it, letterboxed."""
    if fit == "crop":
        return ImageOps.fit(im, (width, height), method=Image.Resampling.LANCZOS)
    if fit == "pad":
        return ImageOps.pad(im, (width, height), method=Image.Resampling.LANCZOS, color=PAD_COLOUR)
    raise ValueError(f"unknown image fit {fit!r}")


def prepare_image(path: Path, height: int, width: int, fit: str) -> Image.Image:
    return fit_image(load_image(path), height, width, fit)
