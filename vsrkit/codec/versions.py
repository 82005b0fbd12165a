"""Tool versions recorded in dataset manifests (so that a dataset can be rebuilt bit-identically)."""
from __future__ import annotations

import platform


def tool_versions() -> dict:
    """Versions of Python, vsrkit, PyAV, its bundled FFmpeg libraries, numpy, OpenCV and scikit-image."""
    import av
    import numpy

    import vsrkit

    out = {"python": platform.python_version(), "vsrkit": vsrkit.__version__, "av": av.__version__,
           "libavcodec": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
           "numpy": numpy.__version__}
    for name, module in (("opencv", "cv2"), ("scikit-image", "skimage")):
        try:
            out[name] = __import__(module).__version__
        except ImportError:
            pass
    return out
