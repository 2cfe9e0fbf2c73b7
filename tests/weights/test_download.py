"""`python -m dclf.weights download`: the hash check and the offline message (never the real
download: the machine running the tests may be offline)."""

import functools
import http.server
import inspect
import threading

import pytest

from dclf.weights import download
from dclf.weights.__main__ import main as weights_main
from dclf.weights.download import KerasFile, file_digest


@pytest.fixture()
def fixture_file(tmp_path):
  path = tmp_path / "served" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
  path.parent.mkdir()
  path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 64)
  return path


@pytest.fixture()
def served(fixture_file):
  """An HTTP server on loopback serving the fixture's folder."""
  handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=fixture_file.parent)
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  yield f"http://127.0.0.1:{server.server_address[1]}/{fixture_file.name}"
  server.shutdown()
  server.server_close()


def use(monkeypatch, url, file_hash, include_top=False):
  name = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
  monkeypatch.setitem(download.FILES, ("vgg16", include_top), KerasFile(name, url, file_hash))


def test_the_right_hash_is_accepted(monkeypatch, tmp_path, fixture_file, served, capsys):
  use(monkeypatch, served, file_digest(fixture_file, "0" * 32))
  assert weights_main(["download", "vgg16", "--dir", str(tmp_path / "weights")]) == 0
  target = tmp_path / "weights" / fixture_file.name
  assert capsys.readouterr().out.strip() == str(target)
  assert target.read_bytes() == fixture_file.read_bytes()
  assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left
  # Already there with the right hash: nothing is fetched (the URL is gone).
  use(monkeypatch, "http://127.0.0.1:9/gone.h5", file_digest(fixture_file, "0" * 32))
  assert weights_main(["download", "vgg16", "--dir", str(tmp_path / "weights")]) == 0


def test_sha256_hashes_work_too(monkeypatch, tmp_path, fixture_file):
  use(monkeypatch, fixture_file.as_uri(), file_digest(fixture_file, "0" * 64))
  assert download.download("vgg16", tmp_path).read_bytes() == fixture_file.read_bytes()


def test_a_wrong_hash_is_rejected_and_removed(monkeypatch, tmp_path, fixture_file, capsys):
  use(monkeypatch, fixture_file.as_uri(), "0123456789abcdef0123456789abcdef")
  assert weights_main(["download", "vgg16", "--dir", str(tmp_path / "weights")]) == 1
  error = capsys.readouterr().err
  assert error.startswith(
    f"error: {fixture_file.as_uri()} has hash {file_digest(fixture_file, '0' * 32)}, "
    "not Keras' 0123456789abcdef0123456789abcdef: download removed"
  )
  assert error.count("\n") == 1
  assert list((tmp_path / "weights").iterdir()) == []


def test_offline_says_how_to_fetch_by_hand(monkeypatch, tmp_path, capsys):
  use(
    monkeypatch,
    "http://127.0.0.1:9/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "6d6bbae143d832006294945121d1f1fc",
  )
  assert weights_main(["download", "vgg16", "--dir", str(tmp_path)]) == 1
  error = capsys.readouterr().err
  target = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
  assert error.startswith("error: cannot download http://127.0.0.1:9/")
  assert f"fetch it by hand (curl -L -o {target} http://127.0.0.1:9/" in error
  assert "md5 6d6bbae143d832006294945121d1f1fc) and run this command again" in error
  assert error.count("\n") == 1 and not target.exists()


def test_the_addresses_are_keras_own():
  """Copied from Keras' source (vgg16.py of Keras 3, resnet50.py of keras_applications 1.0.8,
  which this Keras no longer ships: those are checked by value)."""
  from keras.src.applications import vgg16  # pylint: disable=g-import-not-at-top

  assert download.FILES[("vgg16", False)].url == vgg16.WEIGHTS_PATH_NO_TOP
  assert download.FILES[("vgg16", True)].url == vgg16.WEIGHTS_PATH
  assert all(download.FILES[("vgg16", top)].file_hash in inspect.getsource(vgg16) for top in (False, True))
  assert {k: f.file_hash for k, f in download.FILES.items() if k[0] == "resnet50"} == {
    ("resnet50", False): "a268eb855778b3df3c7506639542a6af",
    ("resnet50", True): "a7b3fe01876f51b976af0dea6bc144eb",
  }
