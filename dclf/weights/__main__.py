"""`python -m dclf.weights`: fetch Keras' ImageNet files; import a Keras file into a dclf workdir.

  python -m dclf.weights download vgg16|resnet50 [--dir D] [--include-top]
  python -m dclf.weights import MODEL FILE --workdir W [--config.FIELD=VALUE ...]

`import` converts FILE into MODEL's variables and writes W (config.json + a step-0 checkpoint),
which `dclf.main` fine-tunes (rerun with the same --config overrides), and `dclf.predict` loads.
W's config.preprocess is what FILE's weights were trained on (raw pixels for a classifier trained
by the poster's code, `caffe` for ImageNet and SGDNet weights) unless --config.preprocess is given.
Bad input is one line `error: ...` on stderr with exit code 2, and leaves W as it was; a failed
download is one line with exit code 1.
"""

import argparse
import logging
import sys
from pathlib import Path

from dclf import cli
from dclf.errors import UsageError
from dclf.weights import download as downloads

# The classifiers `import` accepts, each with the config file it is configured by (a test keeps
# this equal to dclf.models.CLASSIFIERS, which imports flax: too slow for --help).
CONFIG_OF_MODEL = {
  "sgdnet": "sgdnet",
  "small_cnn": "quickstart",
  "softmax": "softmax",
  "vgg16_scratch": "vgg16_scratch",
  "vgg16_transfer": "vgg16_transfer",
}


def _parser() -> argparse.ArgumentParser:
  parser = cli.ArgumentParser(prog="python -m dclf.weights", description=__doc__.split("\n\n")[0])
  commands = parser.add_subparsers(dest="command", required=True)
  fetch = commands.add_parser("download", help="fetch a Keras ImageNet weight file and check its hash")
  fetch.add_argument("model", choices=downloads.MODELS)
  fetch.add_argument("--dir", type=Path, default=downloads.DEFAULT_DIR, help="where to put it (default: %(default)s)")
  fetch.add_argument("--include-top", action="store_true", help="the file with the 1000-class ImageNet top")
  convert_file = commands.add_parser(
    "import",
    help="convert a Keras weight file into a new dclf workdir",
    epilog="--config.FIELD=VALUE overrides a field of configs/MODEL.py.",
  )
  convert_file.add_argument("model", choices=sorted(CONFIG_OF_MODEL))
  convert_file.add_argument("file", type=Path, help="Keras .h5 / .weights.h5 file (or a dclf workdir)")
  convert_file.add_argument("--workdir", required=True, help="the new workdir")
  return parser


@cli.command
def main(argv=None) -> int:
  args, rest = _parser().parse_known_args(argv)
  logging.basicConfig(level=logging.WARNING, format="%(message)s")
  if args.command == "download":  # a failed download is a DownloadError: one line, exit code 1
    if rest:
      raise UsageError(f"unrecognised arguments: {' '.join(rest)}")
    print(downloads.download(args.model, args.dir, args.include_top))
  else:
    from dclf.weights import importing  # pylint: disable=g-import-not-at-top  (JAX, flax, orbax)

    print(importing.import_file(args.model, CONFIG_OF_MODEL[args.model], args.file, args.workdir, rest))
  return 0


if __name__ == "__main__":
  sys.exit(main())
