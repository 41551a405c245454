"""presets.json loads into dataclasses and its frame rules say what the bot expects."""
from processing.presets import load_presets


def test_presets_load_with_the_default():
    presets = load_presets()
    assert presets.default == "cogvideox-5b"
    assert set(presets.names()) >= {"cogvideox-2b", "cogvideox-5b", "cogvideox-5b-i2v",
                                    "cogvideox1.5-5b", "cogvideox1.5-5b-i2v", "tiny-random"}
    assert {n for n, p in presets.by_name.items() if p.test_only} == {"tiny-random", "tiny-random-wan"}
    assert all("test model" in p.label and p.hf_id is None for p in presets.by_name.values() if p.test_only)


def test_frame_rules():
    presets = load_presets()
    five_b, one_five = presets.get("cogvideox-5b").frames, presets.get("cogvideox1.5-5b").frames
    assert [n for n in range(1, 60) if five_b.allows(n)] == [9, 17, 25, 33, 41, 49]
    assert [n for n in range(1, 200) if one_five.allows(n)] == [17, 33, 49, 65, 81, 97, 113, 129, 145, 161]
    assert presets.get("cogvideox-5b-i2v").frames.describe() == "exactly 49 frames"
