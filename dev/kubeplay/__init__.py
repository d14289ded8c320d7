"""kube_play's modules: rendered Kubernetes manifests run as Docker containers.

dev/kube_play.py is the entry point and carries the user documentation (what is emulated, what is not). The modules
are layered, each importing only from the layers before it (no cycles):

    bootstrap   PyYAML importable (else: re-exec in the repo's venv)
    fields      Unsupported, log, check_keys, quantities, $(VAR) expansion
    namespace   the manifests' ConfigMaps, Secrets, Services, workloads
    docker      the docker CLI, the network, addresses in use
    dns         the NXDOMAIN server on the gateway
    podchecks, security, env, volumes, readiness    the Pod's concerns, as mixins
    pod         Pod: a pod spec translated into `docker run`s, started
    state       the state file, prepare (network, DNS), IP allocation
    workloads   Deployments/StatefulSets -> Pods, --only groups
    commands    up, run-test, down
    cli         the command line
"""
