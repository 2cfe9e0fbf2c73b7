"""Softmax baseline: flatten the 224x224x3 pixels -> Dense(3). 451,587 parameters, all trained.

  python -m dclf.data build distortions/blur_noise_split95 --manual_dir DIR_WITH_ImageNet_TAR
  python -m dclf.main --config configs/softmax.py --workdir workdirs/softmax

Data: the poster's blur_noise dataset with the 95/2.5/2.5 split it used for this model
(docs/data.md). Raw RGB 0..255 input, as the poster. The poster does not state this baseline's
optimizer; we use its scratch model's recipe (Adam lr 1e-3, batch 128, 20 epochs).
Poster: validation 0.450, test 0.455 (no LIVE number). Not yet reproduced here: ImageNet cannot
be downloaded on the machines this was written on.
"""

from configs import vgg16_scratch


def get_config():
  config = vgg16_scratch.get_config()  # the same recipe and data
  config.model = "softmax"
  return config
