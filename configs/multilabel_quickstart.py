"""Multi-label quickstart: which of blur and noise does a photo carry (none, one, or both)?

  python -m dclf.main --config configs/multilabel_quickstart.py --workdir workdirs/multilabel

The poster's future work ("multi-label: images with several distortions"). `small_cnn` on the embedded
`distortions/blur_noise_multilabel_sample` (reference, blur, noise and blur+noise windows of
scikit-image's photos, built offline on first use): one sigmoid output per label (blur, noise)
trained with binary cross-entropy against the dataset's multi-hot `labels`. Accuracy is the exact
match (both labels right); the test report (W/eval/test/) adds per-label precision / recall / F1.
"""

from configs import quickstart


def get_config():
  config = quickstart.get_config()
  config.dataset = "distortions/blur_noise_multilabel_sample"
  config.multilabel = True
  return config
