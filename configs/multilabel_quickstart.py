"""Multi-label quickstart: which of blur and noise does a photo carry (none, one, or both)?

  python -m dclf.main --config configs/multilabel_quickstart.py --workdir workdirs/multilabel

The poster's future work ("multi-label: images with several distortions"). `small_cnn` on the embedded
`distortions/blur_noise_multilabel_sample` (reference, blur, noise and blur+noise windows of
scikit-image's photos, built offline on first use): one sigmoid output per label (blur, noise)
trained with binary cross-entropy against the dataset's multi-hot `labels`. Accuracy is the exact
match (both labels right); the test report (W/eval/test/) adds per-label precision / recall / F1.
The distortions are the pre-built ones (`config.distort_on_device` has no multi-label recipe).
"""

from configs import quickstart


def get_config():
  config = quickstart.get_config()
  config.dataset = "distortions/blur_noise_multilabel_sample"
  config.distort_on_device = ""
  config.multilabel = True
  config.lr_decay = 0.0
  config.num_train_steps = -1  # 8 epochs of the pre-built examples
  config.num_epochs = 8
  return config
