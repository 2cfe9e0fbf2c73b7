"""SGDNet (ResNet50 v1 + `fraw`, pretrained for quality on KonIQ-10k, frozen) + GAP -> Dense(3).

  python -m dclf.data build distortions/blur_noise --manual_dir DIR_WITH_ImageNet_TAR
  # SGDNet's released KonIQ-10k model, fetched by hand from the Google Drive link in the README of
  # github.com/ysyscool/SGDNet, saved as weights/sgdnet_koniq10k.h5 (docs/weights.md)
  python -m dclf.main --config configs/sgdnet.py --workdir workdirs/sgdnet
  python -m dclf.evaluate --workdir workdirs/sgdnet --split live_iqa/blur_noise

24,637,827 parameters, 1,539 trainable (the new Dense). The poster's recipe: Keras RMSprop
lr 1e-3, decay 2e-5, batch 128, 10 epochs, blur_noise with the 85/7.5/7.5 split. Poster:
validation 0.869, test 0.837, LIVE 0.724. Not yet reproduced here (no ImageNet, SGDNet weights or
GPU on the machines this was written on).

Preprocessing defaults to `caffe` (SGDNet's own: BGR minus ImageNet means); the poster fed raw
pixels (`--config.preprocess=raw`). A workdir imported from a classifier the poster's code
trained (`python -m dclf.weights import`) is set to `raw`, the pixels that file was trained on.
Frozen BatchNorm runs in inference mode; `--config.frozen_bn_batch_stats=True` reproduces the
Keras 2.3 batch-statistics quirk.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = "sgdnet"
  config.dataset = "distortions/blur_noise"
  config.init_from = "weights/sgdnet_koniq10k.h5"
  config.preprocess = "caffe"
  config.bn_epsilon = 1e-3
  # Optimisation: the defaults are this recipe (RMSprop, lr 1e-3, decay 2e-5, batch 128, 10 epochs).
  return config
