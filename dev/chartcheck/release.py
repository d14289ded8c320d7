"""The release every check renders: `helm template r CHART --namespace strata`.

Guarantees: one name and namespace for all checks, so the pod labels the network policy matrix expects
(app.kubernetes.io/instance) match what is rendered.
"""

NAMESPACE = "strata"
RELEASE = "r"
