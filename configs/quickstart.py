"""Quickstart: a small CNN on the embedded sample dataset, trained on a laptop-class CPU.

  python -m dclf.main --config configs/quickstart.py --workdir workdirs/quickstart

No download: `distortions/blur_noise_clean_sample_plus` (scikit-image's bundled photos: 1,080 clean
training windows, each distorted afresh at every step inside the train step with the poster's
blur/noise severities, noise colour or monochrome; 360 validation / 360 test images distorted
once) is built on first use. `small_cnn` is not one of the poster's models: it is sized so the
whole run takes minutes on 2 CPU cores. Expected result (seed 0, measured on a shared 2-core AMD
EPYC VM; to be confirmed, with the time, on an idle one): validation accuracy 0.861, test 0.864, and
0.94 on the wild evaluation set looked at in 224 windows at the photos' own scale (photos it never
saw, blurred and noised by scipy, Pillow and NumPy: docs/evaluation.md, "Photos from the wild").
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = "small_cnn"
  config.dataset = "distortions/blur_noise_clean_sample_plus"
  config.distort_on_device = "blur_noise_wild"  # docs/data.md, "Distorting on the device"
  config.optimizer = "adam"
  config.learning_rate = 1e-3
  config.lr_decay = 0.005  # lr / (1 + 0.005 step): 1/5 of it at the last step, so the run ends settled
  config.train_crop_size = 128  # random 128x128 crops: ~3x cheaper steps; evaluation sees 224x224
  config.batch_size = 32
  config.num_train_steps = 800  # ~24 visits of each of the 1,080 windows, each with new distortions
  config.log_every_steps = 20
  config.eval_every_steps = 100
  config.checkpoint_every_steps = 100
  return config
