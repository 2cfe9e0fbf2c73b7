"""VGG16 with ImageNet blocks 1-4 frozen, then Conv 512 + MaxPool + Dense 4096 + Dense(3).

  python -m dclf.data build distortions/blur_noise --manual_dir DIR_WITH_ImageNet_TAR
  python -m dclf.weights download vgg16 --dir weights
  python -m dclf.main --config configs/vgg16_transfer.py --workdir workdirs/vgg16_transfer
  python -m dclf.evaluate --workdir workdirs/vgg16_transfer --split live_iqa/blur_noise

112,771,907 parameters, 105,136,643 trainable. The frozen blocks come from Keras' ImageNet VGG16
(`init_from`, converted when a new run starts; docs/weights.md). The poster's recipe: Keras
RMSprop lr 1e-3, decay 2e-5, batch 128, 10 epochs, blur_noise with the 85/7.5/7.5 split.
Poster: validation 0.852, test 0.850, LIVE 0.40. Not yet reproduced here (no ImageNet, weights
download or GPU on the machines this was written on).

Preprocessing defaults to `caffe`, what those weights expect; the poster fed raw pixels
(`--config.preprocess=raw` reproduces that). A workdir imported from a classifier the poster's
code trained (`python -m dclf.weights import`) is set to `raw`, the pixels that file was trained on.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = "vgg16_transfer"
  config.dataset = "distortions/blur_noise"
  config.init_from = "weights/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
  config.preprocess = "caffe"
  # Optimisation: the defaults are this recipe (RMSprop, lr 1e-3, decay 2e-5, batch 128, 10 epochs).
  return config
