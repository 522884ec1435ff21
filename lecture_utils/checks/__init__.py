"""Automatic checks for the exercises: compare your implementation with the course's reference.

Each ``check_*`` function calls your code on small cases, compares the result with the reference
implementation in ``lecture_utils`` by relative error (as CS231n's gradient checks do), prints a
short verdict and raises ``CheckFailed`` with a hint when the answer is wrong.

    >>> from lecture_utils.checks import check_ece
    >>> check_ece(my_ece)
    check_ece: passed (max relative error 1.2e-08 over 3 cases)
"""
from .core import CheckFailed, check_close, rel_error  # noqa: F401

# Per-paper checks are added below, one module per notebook.
