"""The out-of-the-box demo, end to end with tiny settings: build data, train, evaluate beside bicubic."""
import csv


def test_demo_pipeline_tiny(tmp_path, run_script):
    data = tmp_path / "demo_data"
    common = [f"demo_data.root={data}", "demo_data.num_train_clips=2", "demo_data.num_val_clips=1",
              "demo_data.num_frames=4", "demo_data.hr_size=64",
              f"path.experiments_root={tmp_path}/exp", f"path.results_root={tmp_path}/results"]
    train = run_script(["vsrkit/train.py", "-opt", "options/demo/train_mvvsr_demo.yml", "--set", *common,
                        f"datasets.train.dataroot={data}/train", f"datasets.val.dataroot={data}/val",
                        "datasets.train.num_frame=3", "datasets.train.gt_size=32", "datasets.train.batch_size_per_gpu=2",
                        "datasets.train.num_worker_per_gpu=0", "train.total_iter=4", "val.val_freq=2",
                        "logger.print_freq=2", "logger.save_checkpoint_freq=2"])
    assert train.returncode == 0, train.stderr[-2000:]
    assert "validation val @ iter 4: psnr" in train.stdout
    assert (data / "train" / "manifest.json").is_file() and (data / "val" / "motion").is_dir()

    test = run_script(["vsrkit/test.py", "-opt", "options/demo/test_mvvsr_demo.yml", "--set", *common,
                       f"datasets.test_demo.dataroot={data}/val",
                       f"path.pretrain_network_g={tmp_path}/exp/models/net_g_latest.pth"])
    assert test.returncode == 0, test.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "results" / "demo_val_metrics.csv")))
    assert [r["clip"] for r in rows][-1] == "average" and len(rows) == 2
    assert {"psnr", "ssim", "bicubic_psnr", "bicubic_ssim"} <= set(rows[0])
    assert 10 < float(rows[-1]["bicubic_psnr"]) < 60 and 0 < float(rows[-1]["ssim"]) <= 1
    assert "| average |" in test.stdout
