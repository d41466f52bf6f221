"""The solver-neutral problem: arrays (:class:`~vpp_sched.problem.arrays.arrays.Problem`) built from a scenario, the uncontrolled reference."""
