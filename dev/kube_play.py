#!/usr/bin/env python3
"""Run rendered Kubernetes manifests (`helm template` output) as Docker containers: no API server needed.

    python3 dev/kube_play.py up --manifests rendered.yaml --network strata-test --subnet 10.214.0.0/24 \\
        --image-map strata:0.1.0=strata:test --secrets-dir DIR --state STATE.json [--only scheduler,executor]
    python3 dev/kube_play.py run-test --manifests rendered.yaml --name r-strata-test ... --state STATE.json
    python3 dev/kube_play.py down --state STATE.json
    python3 dev/kube_play.py dns-stub --bind 10.214.0.1 [--detach]  # the NXDOMAIN server `up` starts (see below)

A pod is one container per pod container (the first is named after the pod, e.g. `r-strata-executor-1`; any
other `<pod>-<container>` shares its network namespace), on a user-defined bridge network (dev/docker.sh's
strata_docker_network) with a static IP from --subnet. What is emulated, as Kubernetes does it:
- Deployments (replicas, default 1: pods `<name>-0..N-1`) and StatefulSets (pods `<name>-<i>`, their DNS names
  under spec.serviceName, volumeClaimTemplates as per-pod directories); helm test Pods/Jobs with `run-test`.
- command/args exactly as rendered (command replaces the image's ENTRYPOINT, args its CMD), with `$(VAR)`
  expansion (`$$` escapes; unknown references stay as written); env, env `$(VAR)` references to earlier entries,
  envFrom (configMapRef/secretRef, prefix), valueFrom configMapKeyRef/secretKeyRef (optional honoured),
  fieldRef (metadata.name/namespace/uid/labels/annotations, status.podIP/podIPs/hostIP, spec.nodeName,
  spec.serviceAccountName), resourceFieldRef (limits/requests.cpu/memory, divisor).
- Services: every Service whose selector matches a pod's labels gives the pod the network aliases svc, svc.NS,
  svc.NS.svc, svc.NS.svc.cluster.local (Docker's embedded DNS answers them with every matching pod's IP, like a
  headless Service). A Service port must equal its targetPort: Docker cannot remap ports, so a Service that
  does is refused.
- DNS: search path NS.svc.cluster.local svc.cluster.local cluster.local, ndots:5. Docker's embedded DNS forwards
  names it does not know upstream, and nothing upstream is reachable from the network, so every miss would cost
  a 10 s+ timeout; `up` therefore starts (once per gateway) a tiny server on GATEWAY:53 that answers NXDOMAIN
  to everything, as a cluster's DNS answers for names that do not exist, and gives containers `--dns GATEWAY`.
- securityContext (pod and container): runAsUser/runAsGroup -> --user, runAsNonRoot (checked as the kubelet
  does), fsGroup and supplementalGroups -> --group-add (and the group of volumes), readOnlyRootFilesystem ->
  --read-only, allowPrivilegeEscalation: false -> no-new-privileges, capabilities drop/add, privileged,
  seccompProfile RuntimeDefault (Docker's default profile) or Unconfined.
- resources.limits memory -> --memory (and --memory-swap, no swap), cpu -> --cpus. Requests are scheduling only.
- volumes: emptyDir -> a host directory per pod (disk-backed, like the kubelet's; shared by the pod's containers,
  init containers included; mode 0777, or group fsGroup with setgid), or with medium: Memory or
  --emptydir=tmpfs a tmpfs of sizeLimit (one per container, not shared within the pod; its pages count against
  the container's memory limit);
  configMap/secret/projected(configMap, secret) -> files written to a host directory and bind-mounted read-only
  (items, defaultMode, per-item mode, optional, subPath); persistentVolumeClaim -> a host directory per claim.
- initContainers run first, one at a time, to completion (with the pod's IP and hostname, without the Service
  aliases); a failure fails `up` with its logs.
- restartPolicy Always (Deployments, StatefulSets) -> --restart unless-stopped, OnFailure -> on-failure, Never
  -> no. A crash (its process killed: kill -9 "$(docker inspect -f '{{.State.Pid}}' NAME)") restarts the
  container with the same IP, as the kubelet restarts a container in place; `docker stop` and `docker kill` are
  manual stops that Docker never restarts: the pod is gone.
- terminationGracePeriodSeconds -> --stop-timeout (default 30, as Kubernetes).
- Readiness: the readinessProbe (httpGet from the host to the pod IP, tcpSocket, or exec via `docker exec`) is
  polled after start; without one a running container is ready. `up` starts the --only groups in the order
  given, waits until every pod of a group is ready before starting the next, and fails after --timeout seconds
  printing the logs of unready pods.
Not emulated: Service aliases resolve as soon as a container starts (Kubernetes publishes only ready pods) and
stay when it turns unready; liveness and startup probes restart nothing; emptyDir sizeLimit is enforced only on
tmpfs, ephemeral-storage limits never; NetworkPolicies are not enforced (a note says so); service-link env vars
are not injected. Anything else in a pod spec that this runner does not know fails loudly, apart from an explicit
ignore list (scheduling, service accounts, probe timings, image pull settings).

State (--state STATE.json, and STATE.d/ for volumes): pods with their containers, IP, ports by name, aliases,
labels and readiness; `down` removes the containers, STATE.d and what `up` created (network, DNS server).
Containers carry the label strata.test=1 and the pod template's labels.
"""
import os
import sys

# The implementation is the kubeplay package next to this file (dev/kubeplay/: one module per concept).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kubeplay.cli import main  # noqa: E402  (needs the path above)

if __name__ == "__main__":
    sys.exit(main(__doc__))
