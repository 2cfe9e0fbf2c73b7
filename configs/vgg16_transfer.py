"""VGG16 with ImageNet blocks 1-4 frozen, then Conv 512 + MaxPool + Dense 4096 + Dense(3).

  python -m dclf.main --config configs/vgg16_transfer.py --workdir workdirs/vgg16_transfer

112,771,907 parameters, 105,136,643 trainable. The poster's recipe: Keras RMSprop lr 1e-3,
decay 2e-5, batch 128, 10 epochs, 85/7.5/7.5 split. Poster: validation 0.852, test 0.850,
LIVE 0.40. The frozen blocks need Keras' ImageNet weights (`init_from`, see docs/weights.md).
Preprocessing defaults to `caffe`, what those weights expect; the poster fed raw pixels
(`--config.preprocess=raw` reproduces that).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = "vgg16_transfer"
  config.preprocess = "caffe"
  config.optimizer = "rmsprop"
  config.learning_rate = 1e-3
  config.lr_decay = 2e-5
  config.batch_size = 128
  config.num_epochs = 10
  return config
