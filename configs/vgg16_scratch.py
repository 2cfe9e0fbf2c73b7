"""VGG16 blocks 1-4 + Conv 512 + MaxPool + Dense 4096 + Dense(3), trained from scratch.

  python -m dclf.main --config configs/vgg16_scratch.py --workdir workdirs/vgg16_scratch

112,771,907 parameters, all trainable. The poster's recipe: raw RGB 0..255 input, Adam lr 1e-3,
batch 128, 20 epochs, 95/2.5/2.5 split. Poster: validation 0.864, test 0.856, LIVE 0.661.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = "vgg16_scratch"
  config.optimizer = "adam"
  config.learning_rate = 1e-3
  config.lr_decay = 0.0
  config.batch_size = 128
  config.num_epochs = 20
  return config
