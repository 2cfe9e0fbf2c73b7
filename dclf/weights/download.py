"""Keras' public ImageNet weight files, downloaded and checked against Keras' published hashes.

Addresses and md5 hashes are copied from Keras' own source:
- vgg16: keras/src/applications/vgg16.py (Keras 3.15; the same files, same md5, as the fchollet
  v0.1 release): the old layout, `block1_conv1_W_1:0`.
- resnet50: keras_applications 1.0.8 resnet50.py, the ResNet50 of Keras 2.3.1 and the file
  SGDNet's modelfinal.py loads (fchollet v0.2 release): old names (`res2a_branch2a`, `bn_conv1`),
  BatchNorm epsilon 1e-3. (Keras 3's resnet.py serves a different file under the same name, with
  `conv2_block1_1_conv` names and epsilon 1.001e-5; dclf reads that one too but does not fetch it.)
"""

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dclf.errors import RunError

DEFAULT_DIR = Path("~/.cache/dclf/keras").expanduser()


@dataclass(frozen=True)
class KerasFile:
  name: str
  url: str
  file_hash: str  # md5 (32 hex digits) or sha256 (64), as Keras' get_file takes them


_GOOGLEAPIS = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
_FCHOLLET = "https://github.com/fchollet/deep-learning-models/releases/download/v0.2/"
FILES = {  # (model, include_top) -> file
  ("vgg16", False): KerasFile(
    "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    _GOOGLEAPIS + "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "6d6bbae143d832006294945121d1f1fc",
  ),
  ("vgg16", True): KerasFile(
    "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
    _GOOGLEAPIS + "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
    "64373286793e3c8b2b4e3219cbf3544b",
  ),
  ("resnet50", False): KerasFile(
    "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    _FCHOLLET + "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "a268eb855778b3df3c7506639542a6af",
  ),
  ("resnet50", True): KerasFile(
    "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
    _FCHOLLET + "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
    "a7b3fe01876f51b976af0dea6bc144eb",
  ),
}
MODELS = sorted({model for model, _ in FILES})


class DownloadError(RunError):
  """The file could not be fetched or failed its hash check; the message says what to do (one
  `error:` line and exit code 1, as `dclf.cli` reports every RunError)."""


def file_digest(path, file_hash: str) -> str:
  digest = hashlib.sha256() if len(file_hash) == 64 else hashlib.md5()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def _by_hand(file: KerasFile, target: Path) -> str:
  return f"fetch it by hand (curl -L -o {target} {file.url}; md5 {file.file_hash}) and run this command again"


def download(model: str, directory=DEFAULT_DIR, include_top: bool = False, timeout: float = 60) -> Path:
  """`directory`/<Keras file name>, fetched unless a copy with the right hash is there. The
  download goes to a temporary name and is renamed only once its hash is right."""
  file = FILES[(model, include_top)]
  directory = Path(directory)
  target = directory / file.name
  if target.exists():
    if file_digest(target, file.file_hash) == file.file_hash:
      return target
    raise DownloadError(
      f"{target} exists but its hash is not Keras' {file.file_hash}: remove it or choose another --dir"
    )
  directory.mkdir(parents=True, exist_ok=True)
  partial = directory / f".{file.name}.{os.getpid()}.part"
  try:
    with urllib.request.urlopen(file.url, timeout=timeout) as response, open(partial, "wb") as out:
      for chunk in iter(lambda: response.read(1 << 20), b""):
        out.write(chunk)
    got = file_digest(partial, file.file_hash)
    if got != file.file_hash:
      raise DownloadError(
        f"{file.url} has hash {got}, not Keras' {file.file_hash}: download removed; {_by_hand(file, target)}"
      )
    os.replace(partial, target)
  except (urllib.error.URLError, OSError) as e:
    raise DownloadError(f"cannot download {file.url} ({getattr(e, 'reason', e)}); {_by_hand(file, target)}") from None
  finally:
    partial.unlink(missing_ok=True)
  return target
