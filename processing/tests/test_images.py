"""Start-image preprocessing: orientation, transparency, palettes, crop vs pad, and rejection."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from processing.errors import JobError
from processing.images import MAX_PIXELS, fit_image, load_image, prepare_image

RED, BLUE, WHITE, BLACK = (255, 0, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


def save(tmp_path, im: Image.Image, name="image.png", **params):
    path = tmp_path / name
    im.save(path, **params)
    return path


def close(a, b, tol=12):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), RED)
    im.paste(BLUE, (20, 0, 40, 20))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    loaded = load_image(save(tmp_path, im, "photo.jpg", exif=exif, quality=95))
    assert loaded.size == (20, 40)
    assert close(loaded.getpixel((10, 5)), RED) and close(loaded.getpixel((10, 35)), BLUE)


def test_rgba_is_flattened_over_white(tmp_path):
    im = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    im.paste((255, 0, 0, 255), (0, 0, 5, 10))
    loaded = load_image(save(tmp_path, im))
    assert loaded.mode == "RGB"
    assert loaded.getpixel((2, 2)) == RED and loaded.getpixel((7, 7)) == WHITE


def test_palette_with_transparency(tmp_path):
    im = Image.new("P", (10, 10), 0)
    im.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    im.paste(1, (0, 0, 5, 10))
    loaded = load_image(save(tmp_path, im, transparency=0))
    assert loaded.mode == "RGB"
    assert loaded.getpixel((2, 2)) == (0, 255, 0) and loaded.getpixel((7, 7)) == WHITE


def test_greyscale_and_16_bit(tmp_path):
    assert load_image(save(tmp_path, Image.new("L", (4, 4), 128))).getpixel((0, 0)) == (128, 128, 128)
    deep = load_image(save(tmp_path, Image.new("I;16", (4, 4), 32768), "deep.png"))
    assert deep.mode == "RGB" and close(deep.getpixel((0, 0)), (128, 128, 128), tol=2)


def test_crop_fills_the_frame(tmp_path):
    # A tall image: crop keeps the centre band, with no black bars.
    im = Image.new("RGB", (100, 300), RED)
    im.paste(BLUE, (0, 100, 100, 200))
    out = fit_image(im, 64, 96, "crop")
    assert out.size == (96, 64)
    assert close(out.getpixel((0, 32)), BLUE) and close(out.getpixel((95, 32)), BLUE)


def test_pad_letterboxes(tmp_path):
    im = Image.new("RGB", (100, 300), RED)
    out = fit_image(im, 64, 96, "pad")
    assert out.size == (96, 64)
    assert out.getpixel((2, 32)) == BLACK and out.getpixel((93, 32)) == BLACK
    assert close(out.getpixel((48, 32)), RED)


def test_prepare_image_end_to_end(tmp_path):
    out = prepare_image(save(tmp_path, Image.new("RGBA", (300, 200), (0, 0, 255, 255))), 64, 96, "crop")
    assert out.size == (96, 64) and out.mode == "RGB"


@pytest.mark.parametrize("content", [b"<html>hi</html>", b"", b"GIF89a\x00\x00", b"\xff\xd8\xff\xe0garbage"])
def test_non_images_are_rejected(tmp_path, content):
    path = tmp_path / "image.png"
    path.write_bytes(content)
    with pytest.raises(JobError) as info:
        load_image(path)
    assert info.value.code == "INVALID_IMAGE"


def test_too_many_pixels(tmp_path):
    side = int(MAX_PIXELS**0.5) + 100
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, format="PNG")
    path = tmp_path / "huge.png"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(JobError) as info:
        load_image(path)
    assert info.value.code == "INVALID_IMAGE" and "megapixels" in info.value.message


def test_missing_file(tmp_path):
    with pytest.raises(JobError) as info:
        load_image(tmp_path / "nope.png")
    assert info.value.code == "INVALID_IMAGE"
