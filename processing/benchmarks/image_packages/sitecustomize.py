"""The processing image's package set on a host that has more: put this folder first on PYTHONPATH and the
packages the image does not install (scikit-learn, scipy, jax, flax, tensorflow) are not found, so diffusers
and transformers do not import them, as in the image. Used to measure a job's imports and whole time as the
image would run them (docs/performance.md, session 8):

    PYTHONPATH=processing/benchmarks/image_packages:$PYTHONPATH python -m processing run ...

Only the import system's path finder is wrapped; everything else is the host's.
"""
import importlib.machinery
import sys

HIDDEN = frozenset({"sklearn", "scipy", "jax", "jaxlib", "flax", "tensorflow", "keras", "tf_keras", "optax", "orbax",
                    "chex"})


class _WithoutHidden(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            return None
        return super().find_spec(name, path, target)


sys.meta_path[:] = [_WithoutHidden if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
