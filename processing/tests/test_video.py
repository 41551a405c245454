"""MP4 encoding meets the contract: H.264, yuv420p, faststart, exact frame count, fps and size."""
import numpy as np
from PIL import Image

from processing.video import encode_mp4, probe, write_poster


def gradient_frames(count=9, height=64, width=96):
    t = np.linspace(0, 1, count)[:, None, None, None]
    x = np.linspace(0, 1, width)[None, None, :, None]
    return np.broadcast_to(np.concatenate([t + 0 * x, x + 0 * t, (1 - x) + 0 * t], axis=-1),
                           (count, height, width, 3)).astype(np.float32)


def test_encode_meets_the_contract(tmp_path):
    path = tmp_path / "video.mp4"
    encode_mp4(gradient_frames(), path, fps=8)
    info = probe(path)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height, info.fps, info.frames) == (96, 64, 8.0, 9)
    assert info.faststart
    assert not list(tmp_path.glob(".*partial*"))


def test_encode_other_fps_and_length(tmp_path):
    path = tmp_path / "video.mp4"
    encode_mp4(gradient_frames(count=17, height=48, width=80), path, fps=16)
    info = probe(path)
    assert (info.width, info.height, info.fps, info.frames) == (80, 48, 16.0, 17)


def test_poster_is_the_first_frame(tmp_path):
    frames = gradient_frames()
    write_poster(frames, tmp_path / "poster.jpg")
    with Image.open(tmp_path / "poster.jpg") as im:
        assert im.format == "JPEG" and im.size == (96, 64)
        assert abs(im.getpixel((0, 32))[0] - 0) < 10  # frame 0 has t = 0 in red
