"""Automatic checks for the exercises: compare your implementation with the course's reference.

Each ``check_*`` function calls your code on small cases, compares the result with the reference
implementation in ``lecture_utils`` by relative error (as CS231n's gradient checks do), prints a
short verdict and raises ``CheckFailed`` when the answer is wrong. Where the mistakes are
predictable (ECE's bins, Shapley weights, CAM's bias, CKA's centring, LIME's kernel, ...), the
message names the one your answer looks like; otherwise it shows your numbers and the
reference's. In Jupyter the failure is shown as that message and your line, without the
checker's traceback.

    >>> from lecture_utils.checks import check_ece
    >>> check_ece(my_ece)
    check_ece: passed (max relative error 1.2e-08 over 3 cases)
"""
from .core import CheckFailed, Mistake, check_close, rel_error, show_check_failures  # noqa: F401

# Per-paper checks are added below, one module per notebook.
from .setup import check_accuracy, check_normalize  # noqa: F401,E402  (notebook 00)
from .dissection import check_iou, check_unit_threshold  # noqa: F401,E402  (notebook 10)
from .similarity import check_hsic, check_linear_cka  # noqa: F401,E402  (notebook 11)
from .calibration import check_ece, check_fit_temperature, check_temperature_nll  # noqa: F401,E402  (notebook 09)
from .generalization import check_corrupt_labels, check_interpolating_net, check_lemma_matrix, check_random_pixels, check_shuffled_pixels  # noqa: F401,E402,E501  (notebook 06)
from .cam import check_box_from_map, check_class_activation_map, check_grad_cam, check_pointing_game  # noqa: F401,E402,E501  (notebooks 05, 07)
from .lime import check_cosine_distance, check_proximity_kernel, check_submodular_pick, check_weighted_least_squares  # noqa: F401,E402,E501  (notebook 04)
from .shap import check_linear_shap, check_rescale_multiplier, check_shapley_kernel, check_shapley_values  # noqa: F401,E402,E501  (notebook 08)
from .gradients import (check_ascent_step, check_flipped_convolution, check_penalty_and_projection, check_pnorm_pool, check_pool_as_conv, check_relu_rules, check_saliency, check_unpooling)  # noqa: F401,E402,E501  (notebooks 01-03)
from .trust import check_auc, check_spearman  # noqa: F401,E402  (notebook 12)

# In Jupyter: a failed check shows its message and your line, not the checker's traceback.
show_check_failures()
