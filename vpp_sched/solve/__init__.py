"""Solving a problem with HiGHS: the dispatcher, the HiGHS hand-over, LP-guided rounding, decomposition by transformer blocks and their coordination, executors, timing."""
