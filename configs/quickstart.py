"""Quickstart: a small CNN on the embedded sample dataset, trained on a laptop-class CPU.

  python -m dclf.main --config configs/quickstart.py --workdir workdirs/quickstart

No download: `distortions/blur_noise_sample` (scikit-image's bundled photos, cropped and distorted
with the poster's blur/noise recipe; 2,520 train / 360 validation / 360 test) is built on first
use. `small_cnn` is not one of the poster's models: it is sized so the whole run takes minutes
on 2 CPU cores. Expected result: validation accuracy 0.772, test accuracy 0.731 (seed 0; seeds
1 and 2 gave 0.786 / 0.844 and 0.728 / 0.794), in 2 min 42 s with the dataset build on an idle
2-core AMD EPYC VM (README.md, "Quickstart").
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = "small_cnn"
  config.dataset = "distortions/blur_noise_sample"
  config.optimizer = "adam"
  config.learning_rate = 1e-3
  config.lr_decay = 0.0
  config.train_crop_size = 128  # random 128x128 crops: ~3x cheaper steps; evaluation sees 224x224
  config.batch_size = 32
  config.num_epochs = 8
  config.log_every_steps = 20
  config.eval_every_steps = 100
  config.checkpoint_every_steps = 100
  return config
