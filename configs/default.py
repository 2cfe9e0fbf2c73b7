"""Defaults every model config starts from; each field can be overridden on the command line.

python -m dclf.main --config configs/<model>.py --workdir DIR [--config.FIELD=VALUE ...]
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  # Model: one of dclf.models.CLASSIFIERS.
  config.model = "softmax"
  config.bn_epsilon = 1e-3  # old Keras BatchNormalization default (SGDNet's ResNet50)
  # Keras 2.3 quirk: frozen BatchNorm normalised with batch statistics while training. False
  # (correct) keeps frozen BatchNorm in inference mode.
  config.frozen_bn_batch_stats = False
  # Pretrained weights to start from: a Keras .h5 file or a workdir written by
  # `python -m dclf.weights import` ('' = random initialisation).
  config.init_from = ""

  # Data: `synthetic`, or a tfds name registered by dclf.data (e.g. distortions/blur_noise).
  config.dataset = "synthetic"
  config.data_dir = ""  # '' = tfds' default ($TFDS_DATA_DIR or ~/tensorflow_datasets)
  config.train_split = "train"  # tfds split names; slices work too ("train[:10%]")
  config.eval_split = "validation"  # evaluated every eval_every_steps and at the end
  config.image_size = 224
  # `raw`: 0..255 RGB as the poster fed every model; `caffe`: BGR minus ImageNet means, what
  # Keras' pretrained VGG16 / ResNet50 and SGDNet expect.
  config.preprocess = "raw"
  # > 0: train on random crops of this size (fully convolutional models only); evaluation
  # always sees whole images.
  config.train_crop_size = 0
  # `auto`: the dataset's raw copy when it has one (`python -m dclf.data convert-raw NAME`: the same
  # pixels, read without decoding; docs/data.md), else its PNG build; `tfds`: the PNG build; `raw`:
  # the raw copy (an error if there is none). Every format gives the same batches.
  config.data_format = "auto"
  # Worker processes reading batches (0 = a thread of the main process); -1 = fit the host: 0 for a
  # raw copy, every core but two (at most 16) for PNGs. Batches do not depend on it.
  config.data_workers = -1
  config.prefetch_batches = 4  # batches put on the devices ahead of the step that needs them
  # A recipe of dclf.distort.on_device (`blur_noise`) to distort the training images inside the
  # train step, a class and severities drawn afresh per image and step; the dataset's train split
  # must hold clean photos (e.g. distortions/blur_noise_clean_sample; docs/data.md). '' = off: the
  # pre-built, pre-distorted examples, as the poster trained.
  config.distort_on_device = ""
  config.class_names = ()  # the model's outputs: filled from the dataset and saved with the run
  # True: one sigmoid output per label of the dataset's multi-hot `labels` (e.g. blur and noise
  # at once, distortions/blur_noise_multilabel), binary cross-entropy loss; accuracy = exact match.
  config.multilabel = False

  # Optimisation (the poster's: Keras RMSprop lr 1e-3, decay 2e-5, batch 128, 10 epochs).
  config.optimizer = "rmsprop"
  config.learning_rate = 1e-3
  config.lr_decay = 2e-5  # Keras `decay`: lr / (1 + lr_decay * step)
  config.momentum = 0.0  # sgd only
  config.batch_size = 128  # global, over all devices and processes
  config.num_epochs = 10
  config.num_train_steps = -1  # > 0 overrides num_epochs

  # Execution.
  config.parallelism = "pmap"  # or `jit` (jax.jit + shard_map over a device mesh)
  config.half_precision = False  # bfloat16 compute, float32 parameters
  config.seed = 0

  # Outputs.
  config.log_every_steps = 50
  config.eval_every_steps = 1000  # <= 0: only at the end
  config.checkpoint_every_steps = 1000
  config.keep_checkpoints = 3
  # > 0: a jax.profiler trace of that many training steps (after this process's first two) into
  # workdir/profile/, for TensorBoard's profile tab or ui.perfetto.dev (docs/benchmarks.md).
  config.profile_steps = 0
  return config
