"""The trusted side: grading a class (grade) by running each submission (evaluate) in the sandbox
and its hidden suite in this process (suite_runner, modelcheck), on a runner (runners,
worker_plan), with the cache and the regrade from recorded answers (cache_keys, replay), the
results in Gradescope's shape (results) and nbgrader's grade cells (nbgrader_compat).
Imports cnngrade.sandbox, cnngrade.intake and cnngrade.course."""
