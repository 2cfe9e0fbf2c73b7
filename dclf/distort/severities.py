"""The severities of the poster's blur_noise recipe (d-roland/distortionClassfication's generator).

One place for both ways dclf draws them: once per source photo with NumPy for the pre-built
datasets (`dclf.data.distortions.recipes`), and per image and step with JAX inside the train step
(`dclf.distort.on_device`).
"""

BLUR_RADIUS = (1.0, 11.0)  # GaussianFilter radius ~ U[1, 11)
NOISE_AMOUNT = (1, 26)  # colour gaussian NoiseFilter amount (std on 0..255): a uniform integer, both ends included
NOISE_DENSITY = (0.1, 1.1)  # share of pixels noised ~ U[0.1, 1.1) (>= 1: every pixel)

# Not the poster's: the salt-and-pepper noise of the blur_noise_wild recipe (dclf.distort.on_device).
IMPULSE_SHARE = (0.002, 0.2)  # share of pixels set to black or white ~ U[0.002, 0.2)
