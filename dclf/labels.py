"""The label sets of the poster's datasets, in label order: what the datasets record, what the
models' outputs mean, and what `dclf.predict` names for a workdir that records none.

blur_noise (the poster's second dataset, the one its results table and LIVE evaluation use) and
six_distortions (its first) are the poster's; the multi-label set is its future work.
"""

CLEAN_CLASS = "reference"  # the undistorted photos' class in every label set
BLUR_NOISE_CLASSES = (CLEAN_CLASS, "blur", "noise")
SIX_DISTORTIONS_CLASSES = (CLEAN_CLASS, "gaussian_blur", "motion_blur", "color_noise", "mono_noise", "marble", "twirl")
MULTILABEL_CLASSES = (CLEAN_CLASS, "blur", "noise", "blur_and_noise")
MULTILABEL_AXES = ("blur", "noise")  # the order of the multi-hot `labels` vector

# The poster's label sets by size: the outputs of a classifier whose workdir records no names.
POSTER_CLASSES_BY_COUNT = {len(names): names for names in (BLUR_NOISE_CLASSES, SIX_DISTORTIONS_CLASSES)}
