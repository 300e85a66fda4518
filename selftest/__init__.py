"""`pavi-validate selftest`: every gate of the chosen sets measured twice on local stacks, once healthy
(it must PASS) and once with the fault that should trip it, judged by the real judge.

scale (workload sizes) -> recipes (gate -> trials, pure) -> trials (one measured run each, on the lab's
stacks and moto) -> runner (judge every case) -> output (table, selftest.json, junit.xml).
"""
