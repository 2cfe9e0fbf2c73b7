"""Quickstart: a small CNN on the embedded sample dataset, trained on a laptop-class CPU.

  python -m dclf.main --config configs/quickstart.py --workdir workdirs/quickstart

No download: `distortions/blur_noise_clean_sample_plus` (scikit-image's bundled photos: 1,080 clean
training windows, half of them cut at the photos' own pixels, each distorted afresh at every step
inside the train step with the poster's blur/noise severities, the noise colour, monochrome or
salt-and-pepper; 360 validation / 360 test images distorted once) is built on first use.
`small_cnn` is not one of the poster's models: it is sized so the whole run takes minutes on 2 CPU
cores. Expected result (seed 0; 4 min 35 s with the dataset build on the idle 2-core AMD EPYC VM,
2026-12-06): validation accuracy 0.892, test 0.875, and 0.967 on the wild evaluation set (photos
it never saw, blurred and noised by scipy, Pillow and NumPy), looked at as `dclf.predict` looks at
a photo (docs/evaluation.md, "Photos from the wild"; seeds 1 and 2 in README.md, "Quickstart").
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
