import numpy as np

from dclf.data.distortions import recipes


def _plans(recipe, count=400, seed=0):
  return [recipes.plan_source(recipe, seed, f"n0000/img{i}.JPEG") for i in range(count)]


def test_blur_noise_severities_follow_the_poster_ranges():
  plans = _plans("blur_noise")
  assert all([p.class_name for p in plan] == ["reference", "blur", "noise"] for plan in plans)
  radii = np.array([plan[1].radius for plan in plans])
  amounts = np.array([plan[2].amount for plan in plans])
  densities = np.array([plan[2].density for plan in plans])
  assert radii.min() >= 1 and radii.max() < 11 and radii.std() > 2
  assert set(amounts.astype(int)) == set(range(1, 27))
  assert densities.min() >= 0.1 and densities.max() < 1.1
  blur_step = plans[0][1].steps[0]
  assert blur_step.filter == "gaussian_blur" and blur_step.params == {"radius": plans[0][1].radius}
  noise_step = plans[0][2].steps[0]
  assert noise_step.filter == "color_noise" and set(noise_step.params) == {"amount", "density"}


def test_plans_depend_only_on_seed_and_source():
  assert recipes.plan_source("blur_noise", 0, "a/b.jpg") == recipes.plan_source("blur_noise", 0, "a/b.jpg")
  assert recipes.plan_source("blur_noise", 0, "a/b.jpg") != recipes.plan_source("blur_noise", 1, "a/b.jpg")
  noise_seeds = {plan[2].steps[0].seed for plan in _plans("blur_noise", 100)}
  assert len(noise_seeds) == 100


def test_six_distortions_use_the_fixed_parameters():
  plans = _plans("six_distortions", 20)
  for plan in plans:
    assert [p.class_name for p in plan] == list(recipes.SIX_DISTORTIONS_CLASSES)
    for example in plan[1:]:
      (step,) = example.steps
      assert step.filter == example.class_name
      assert step.params == recipes.SIX_DISTORTIONS_PARAMS[example.class_name]
    assert plan[1].radius == 10 and plan[3].amount == 25 and plan[4].density == 1
    assert plan[2].radius == plan[5].amount == plan[6].density == 0
  assert len({plan[5].steps[0].seed for plan in plans}) == 1  # one marble field per build
  assert len({plan[3].steps[0].seed for plan in plans}) == 20  # fresh noise per image


def test_multilabel_carries_both_in_either_order():
  plans = _plans("blur_noise_multilabel", 200)
  orders = set()
  for plan in plans:
    assert [p.class_name for p in plan] == list(recipes.MULTILABEL_CLASSES)
    assert [p.multi_hot.tolist() for p in plan] == [[0, 0], [1, 0], [0, 1], [1, 1]]
    both = plan[3]
    orders.add(both.order)
    assert both.radius >= 1 and both.amount >= 1 and both.density >= 0.1
  assert orders == {"blur,noise", "noise,blur"}
  assert plans[0][0].order == "" and plans[0][1].order == "blur"
