import subprocess
import sys

import pytest

from vsrkit.errors import ConfigError
from vsrkit.registry import Registry


def test_register_and_get():
    reg = Registry("thing")

    @reg.register()
    class Alpha:
        pass

    @reg.register("beta")
    def make_beta():
        return 1

    assert reg.get("Alpha") is Alpha
    assert reg.get("beta") is make_beta
    assert "Alpha" in reg and reg.names() == ["Alpha", "beta"]


def test_duplicate_name_is_an_error():
    reg = Registry("thing")

    @reg.register()
    class Alpha:
        pass

    with pytest.raises(KeyError, match="registered twice"):
        reg.register("Alpha")(type("Other", (), {}))


def test_unknown_name_lists_close_matches():
    reg = Registry("arch")
    reg.register("BasicVSR")(type("BasicVSR", (), {}))
    reg.register("MVVSR")(type("MVVSR", (), {}))
    with pytest.raises(ConfigError, match=r"network_g.type: unknown arch 'BasicVSr'; did you mean 'BasicVSR'"):
        reg.get("BasicVSr", where="network_g.type")
    with pytest.raises(ConfigError, match="known: BasicVSR, MVVSR"):
        reg.get("Zzz")


def test_import_vsrkit_is_cheap():
    code = ("import sys, vsrkit, vsrkit.registry, vsrkit.options;"
            "heavy = [m for m in ('torch', 'vsrkit.archs', 'av', 'cv2') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
