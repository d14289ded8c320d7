"""check_chart's modules: offline checks of the Strata Helm chart (dev/check_chart.py is the entry point).

Layered, each module importing only from the ones before it (no cycles):

    release      the release every check renders (name, namespace)
    podsecurity  the pod walker: Pod Security "restricted" and the chart's own rules over rendered objects
    netpol       a small NetworkPolicy evaluator and the connectivity matrix Strata needs
    selftest     the walker and the evaluator shown to catch planted problems
    base         CheckerBase: one output line per check, helm runs, the ci value sets
    helmruns, rendered, badvalues, schema    the checks, as mixins of CheckerBase
    cli          Checker (the checks in order, the summary) and the command line
"""
