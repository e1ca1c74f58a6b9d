"""The ten stages of the workflow, in order. Each is a plain function of its inputs, with no I/O and no store:

 1 business        business.py       the problem, the target and what "good enough to ship" means
 2 data            data/             read the source, protect personal data, check quality
 3 preprocessing   preprocessing.py  the row-level cleaning that happens in training only
 4 exploration     exploration/      plots and plain-word insights
 5 features        features.py       which inputs, how encoded, derived and transformed
 6 models          selection.py      which algorithms compete (cairn.algorithms holds their facts)
 7 training        training/         splits, cross-validation, tuning within the budget, ensembles
 8 evaluation      evaluation.py     the holdout verdict against the objective, with intervals
 9 deployment      deployment.py     the refit and the registered model bundle
10 monitoring      monitoring.py     the reference that drift is measured against

The runner (cairn.runner.graph) wires them: what each reads and writes, and what its cache key hashes.
"""

from cairn.config.sections import STAGE_NAMES, STAGE_TITLES

__all__ = ["STAGE_NAMES", "STAGE_TITLES"]
