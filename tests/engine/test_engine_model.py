"""VideoSRModel in-process: NaN guard, bf16 autocast, tiled validation path, EMA used for evaluation."""
import copy

import pytest
import torch

from vsrkit.data.synthetic_dataset import SyntheticVideoDataset
from vsrkit.engine.dist import DistInfo
from vsrkit.models.video_sr_model import NonFiniteLossError, VideoSRModel
from vsrkit.options import DEFAULTS, deep_merge


def make_opt(**train):
    opt = deep_merge(copy.deepcopy(DEFAULTS), {
        "name": "m", "scale": 4, "is_train": True, "opt_path": "m.yml",
        "network_g": {"type": "MVVSR", "mid_channels": 8, "num_blocks": 1},
        "train": {"total_iter": 10, "optim_g": {"type": "Adam", "lr": 1e-3},
                  "pixel_opt": {"type": "CharbonnierLoss", "eps": 1e-6}, **train},
    })
    return opt


def batch_of(n=2):
    items = [SyntheticVideoDataset(num_frame=3, lq_size=8)[i] for i in range(n)]
    batch = {k: torch.stack([it[k] for it in items]) for k in ("lq", "gt", "mv_bwd", "mv_fwd", "frame_types",
                                                               "frame_ids")}
    return {**batch, "clip": [it["clip"] for it in items]}


def test_non_finite_loss_skips_the_step_then_stops():
    torch.manual_seed(0)
    model = VideoSRModel(make_opt(nan_guard_limit=3), DistInfo())
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    bad = batch_of()
    bad["gt"][0, 0, 0, 0, 0] = float("nan")
    assert torch.isnan(torch.tensor(model.optimize(bad, 1)["l_pix"]))
    assert all(torch.equal(before[k], v) for k, v in model.net.state_dict().items())  # step skipped
    model.optimize(bad, 2)
    with pytest.raises(NonFiniteLossError, match="3 non-finite losses in a row at iter 3"):
        model.optimize(bad, 3)


def test_finite_loss_resets_the_streak_and_updates_weights():
    torch.manual_seed(0)
    model = VideoSRModel(make_opt(nan_guard_limit=2, grad_clip=0.5), DistInfo())
    bad = batch_of()
    bad["gt"][:] = float("inf")
    model.optimize(bad, 1)
    values = model.optimize(batch_of(), 2)
    assert model.nan_streak == 0 and values["grad_norm"] > 0
    model.optimize(bad, 3)  # a single bad step after a good one does not stop the run


def test_bf16_autocast_trains_on_cpu():
    torch.manual_seed(0)
    model = VideoSRModel({**make_opt(), "precision": "bf16"}, DistInfo())
    losses = [model.optimize(batch_of(), i)["l_pix"] for i in range(1, 4)]
    assert all(l == l for l in losses)  # finite
    assert model.infer(batch_of(1)).out.dtype == torch.float32


def test_ema_network_is_used_for_inference_and_tiled_equals_whole():
    torch.manual_seed(0)
    model = VideoSRModel(make_opt(ema_decay=0.5), DistInfo())
    for i in range(1, 3):
        model.optimize(batch_of(), i)
    b = batch_of(1)
    whole = model.infer(b).out
    assert torch.equal(whole, model.infer(b, net=model.ema.module).out)
    assert not torch.equal(whole, model.infer(b, net=model.net).out)
    model.opt["val"].update(chunk=2, chunk_overlap=1)
    chunked = model.infer(b).out
    assert chunked.shape == whole.shape
    assert (chunked - whole).abs().max() < 0.05  # recurrent context is cut at chunk borders: close, not equal


def test_channels_last_gives_the_same_numbers():
    torch.manual_seed(0)
    plain = VideoSRModel(make_opt(), DistInfo())
    torch.manual_seed(0)
    cl = VideoSRModel({**make_opt(), "channels_last": True}, DistInfo())
    assert cl.net.conv_last.weight.is_contiguous(memory_format=torch.channels_last)
    b = batch_of(1)
    assert torch.allclose(plain.infer(b).out, cl.infer(b).out, atol=1e-5)


def test_pretrain_spynet_is_loaded_into_the_flow_network(tmp_path):
    from vsrkit.archs.spynet import SPyNet, to_basicsr_state_dict

    torch.manual_seed(1)
    src = SPyNet()
    path = tmp_path / "spynet.pth"
    torch.save({"params": to_basicsr_state_dict(src.state_dict())}, path)
    opt = make_opt()
    opt["network_g"]["alignment"] = "spynet"
    opt["path"]["pretrain_spynet"] = str(path)
    model = VideoSRModel(opt, DistInfo())
    for key, value in src.state_dict().items():
        assert torch.equal(model.net.spynet.state_dict()[key], value), key
    opt["network_g"]["alignment"] = "mv"
    with pytest.raises(Exception, match="path.pretrain_spynet is set but MVVSR has no SPyNet"):
        VideoSRModel(opt, DistInfo())
