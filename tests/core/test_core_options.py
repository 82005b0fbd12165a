import textwrap

import pytest

from vsrkit.errors import ConfigError
from vsrkit.options import apply_override, load_options


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def test_base_inheritance_deep_merge_and_relative_paths(tmp_path):
    (tmp_path / "_base_").mkdir()
    write(tmp_path / "_base_" / "a.yml", """
        name: base
        scale: 4
        train: {total_iter: 100, optim_g: {type: Adam, lr: 1.0e-4, betas: [0.9, 0.99]}}
    """)
    write(tmp_path / "_base_" / "b.yml", """
        logger: {print_freq: 7}
    """)
    child = write(tmp_path / "child.yml", """
        _base_: [_base_/a.yml, _base_/b.yml]
        name: child
        train: {optim_g: {lr: 2.0e-4}}
    """)
    opt = load_options(child)
    assert opt["name"] == "child" and opt["scale"] == 4
    assert opt["train"]["optim_g"] == {"type": "Adam", "lr": 2.0e-4, "betas": [0.9, 0.99]}
    assert opt["train"]["total_iter"] == 100
    assert opt["logger"]["print_freq"] == 7
    assert opt["logger"]["save_checkpoint_freq"] == 1000  # default filled in
    assert "_base_" not in opt


def test_overrides_parse_yaml_values_and_create_keys(tmp_path):
    f = write(tmp_path / "x.yml", "name: x\ntrain: {total_iter: 10}\n")
    opt = load_options(f, ["train.total_iter=3", "val.metrics.psnr.crop_border=4",
                           "network_g.type=MVVSR", "train.optim_g.betas=[0.9, 0.95]", "deterministic=true"])
    assert opt["train"]["total_iter"] == 3
    assert opt["val"]["metrics"] == {"psnr": {"crop_border": 4}}
    assert opt["train"]["optim_g"]["betas"] == [0.9, 0.95]
    assert opt["deterministic"] is True


def test_override_errors():
    with pytest.raises(ConfigError, match="expected key.path=value"):
        apply_override({}, "train.total_iter")
    with pytest.raises(ConfigError, match="'scale' is a value, not a section"):
        apply_override({"scale": 4}, "scale.x=1")


def test_malformed_yaml_reports_file_and_line(tmp_path):
    f = write(tmp_path / "bad.yml", "name: x\ntrain:\n  total_iter: 1\n bad: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yml:4:\d+: malformed YAML"):
        load_options(f)


def test_unknown_key_suggests_the_closest(tmp_path):
    f = write(tmp_path / "typo.yml", "name: x\ntrain: {total_iters: 10}\n")
    with pytest.raises(ConfigError, match=r"typo\.yml: unknown key 'train.total_iters'; did you mean 'total_iter'\?"):
        load_options(f)


def test_wrong_type_and_choice(tmp_path):
    f = write(tmp_path / "t.yml", "name: x\ntrain: {total_iter: ten}\n")
    with pytest.raises(ConfigError, match="'train.total_iter' must be int, got 'ten'"):
        load_options(f)
    f = write(tmp_path / "p.yml", "name: x\nprecision: fp16\n")
    with pytest.raises(ConfigError, match="'precision' must be 'fp32' or 'bf16'"):
        load_options(f)


def test_circular_base(tmp_path):
    write(tmp_path / "a.yml", "_base_: b.yml\nname: a\n")
    write(tmp_path / "b.yml", "_base_: a.yml\n")
    with pytest.raises(ConfigError, match="circular _base_"):
        load_options(tmp_path / "a.yml")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="options file not found"):
        load_options(tmp_path / "nope.yml")
