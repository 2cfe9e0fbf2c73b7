"""VGG16 blocks 1-4 + Conv 512 + MaxPool + Dense 4096 + Dense(3), trained from scratch.

  python -m dclf.data build distortions/blur_noise_split95 --manual_dir DIR_WITH_ImageNet_TAR
  python -m dclf.main --config configs/vgg16_scratch.py --workdir workdirs/vgg16_scratch
  python -m dclf.evaluate --workdir workdirs/vgg16_scratch --split live_iqa/blur_noise

112,771,907 parameters, all trainable. The poster's recipe: raw RGB 0..255 input, Adam lr 1e-3,
batch 128, 20 epochs, blur_noise with the 95/2.5/2.5 split. Poster: validation 0.864,
test 0.856, LIVE 0.661. Not yet reproduced here (no ImageNet or GPU on the machines this was
written on).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = "vgg16_scratch"
  config.dataset = "distortions/blur_noise_split95"
  config.optimizer = "adam"
  config.learning_rate = 1e-3
  config.lr_decay = 0.0
  config.batch_size = 128
  config.num_epochs = 20
  return config
