"""A whole epoch of grain's `index_shuffle` at once, in NumPy.

grain shuffles an epoch of `n` records with `index_shuffle(i, max_index=n - 1, seed, rounds=4)`:
a Simon block cipher on B = max(16, ceil(log2(n - 1)) rounded up to even) bits, keyed by
`std::seed_seq{seed}`, walked along its cycle until the output is a record index
(grain/_src/python/experimental/index_shuffle/index_shuffle.cc). One call costs 5-15 us, most of
it the walk (2^16 / n steps for small n), which made it a third of the loader's CPU per image.
Encrypting all 2^B values once and walking every index together gives the same permutation for a
few milliseconds per epoch.
"""

import math

import grain
import numpy as np

_MASK32 = 0xFFFFFFFF


def seed_seq_generate(seed: int, count: int) -> list[int]:
  """What C++'s `std::seed_seq{seed}.generate` writes into `count` 32-bit words ([rand.util.seedseq])."""
  out = [0x8B8B8B8B] * count
  t = 11 if count >= 623 else 7 if count >= 68 else 5 if count >= 39 else 3 if count >= 7 else (count - 1) // 2
  p, q, m = (count - t) // 2, (count - t) // 2 + t, max(2, count)
  mix = lambda x: (x ^ (x >> 27)) & _MASK32
  for k in range(m):
    r1 = 1664525 * mix(out[k % count] ^ out[(k + p) % count] ^ out[(k - 1) % count]) & _MASK32
    r2 = (r1 + (1 if k == 0 else (k % count + seed if k == 1 else k % count))) & _MASK32
    out[(k + p) % count] = (out[(k + p) % count] + r1) & _MASK32
    out[(k + q) % count] = (out[(k + q) % count] + r2) & _MASK32
    out[k % count] = r2
  for k in range(m, m + count):
    r3 = 1566083941 * mix((out[k % count] + out[(k + p) % count] + out[(k - 1) % count]) & _MASK32) & _MASK32
    r4 = (r3 - k % count) & _MASK32
    out[(k + p) % count] ^= r3
    out[(k + q) % count] ^= r4
    out[k % count] = r4
  return out


def _simon_encrypt(values: np.ndarray, word: int, keys: list[int]) -> np.ndarray:
  mask = np.uint64((1 << word) - 1)
  rotl = lambda x, r: ((x << np.uint64(r)) | (x >> np.uint64(word - r))) & mask
  f = lambda x: (rotl(x, 1) & rotl(x, 8)) ^ rotl(x, 2)
  left, right = values >> np.uint64(word), values & mask
  for k1, k2 in zip(keys[::2], keys[1::2]):
    left ^= f(right) ^ (np.uint64(k1) & mask)
    right ^= f(left) ^ (np.uint64(k2) & mask)
  return (left << np.uint64(word)) | right


def epoch_permutation(num_records: int, seed: int, rounds: int = 4) -> np.ndarray:
  """`[index_shuffle(i, max_index=num_records - 1, seed=seed, rounds=rounds) for i in range(num_records)]`."""
  max_index = num_records - 1
  if num_records < 16:  # the walks are ~2^16 / n steps each: shorter one by one in C++ than in lockstep
    return np.array(
      [grain.experimental.index_shuffle(i, max_index, seed, rounds) for i in range(num_records)], np.int64
    )
  bits = math.ceil(math.log2(max_index))
  bits = max(bits + bits % 2, 16)
  cipher = _simon_encrypt(np.arange(2**bits, dtype=np.uint64), bits // 2, seed_seq_generate(seed & _MASK32, rounds))
  # (The cipher sees an index's low `bits` bits: when max_index is 2^bits, grain maps it like 0.)
  out = cipher[np.arange(num_records) & ((1 << bits) - 1)]
  walking = np.nonzero(out > max_index)[0]
  while walking.size:
    out[walking] = cipher[out[walking]]
    walking = walking[out[walking] > max_index]
  return out.astype(np.int64)
