"""A pod's volumes as host directories or tmpfs mounts, and a container's volumeMounts as docker arguments.

Guarantees: emptyDir -> a directory per pod under STATE.d/pods/<pod>/ (mode 0777, or group fsGroup with setgid),
or a tmpfs (medium: Memory or --emptydir=tmpfs; exec, sizeLimit, fsGroup); configMap/secret/projected -> files
written afresh (items, defaultMode, per-item mode, optional; group-readable for fsGroup) and mounted read-only;
persistentVolumeClaim -> STATE.d/claims/<claim>, kept across runs; subPath stays inside its volume; any other
volume type is refused. A mixin of Pod: it reads self.spec, self.name, self.ns, self.state_dir and self.args.
"""
import os
import shutil

from .fields import Unsupported, check_keys, parse_quantity


class PodVolumes:
    """Volumes and mounts of a Pod (mixin)."""

    def volume_dirs(self):
        """Make every volume's host directory (or tmpfs spec); returns name -> ('bind', path) | ('tmpfs', opts)."""
        psc = self.spec.get("securityContext") or {}
        fs_group = psc.get("fsGroup")
        out = {}
        base = os.path.join(self.state_dir, "pods", self.name)
        for v in self.spec.get("volumes") or []:
            name = v["name"]
            kinds = [k for k in v if k != "name"]
            if len(kinds) != 1:
                raise Unsupported(f"{self.name}: volume {name}: {kinds}")
            kind = kinds[0]
            where = f"{self.name}: volume {name}"
            if kind == "emptyDir":
                ed = v["emptyDir"] or {}
                check_keys(ed, where, ("medium", "sizeLimit"))
                if ed.get("medium") not in (None, "", "Memory"):
                    raise Unsupported(f"{where}: medium {ed['medium']}")
                if ed.get("medium") == "Memory" or self.args.emptydir == "tmpfs":
                    # Docker's --tmpfs default is noexec; the kubelet's tmpfs emptyDir is not.
                    opts = ["exec", "nosuid", "nodev"]
                    if ed.get("sizeLimit"):
                        opts.append(f"size={int(parse_quantity(ed['sizeLimit']))}")
                    opts.append("mode=2777" if fs_group is not None else "mode=1777")
                    if fs_group is not None:
                        opts.append(f"gid={fs_group}")
                    out[name] = ("tmpfs", ",".join(opts))
                else:
                    path = os.path.join(base, "emptydir", name)
                    os.makedirs(path, exist_ok=True)
                    if fs_group is not None:
                        os.chown(path, 0, int(fs_group))
                        os.chmod(path, 0o2777)
                    else:
                        os.chmod(path, 0o777)
                    out[name] = ("bind", path)
            elif kind in ("configMap", "secret", "projected"):
                path = os.path.join(base, kind, name)
                if os.path.exists(path):
                    shutil.rmtree(path)
                os.makedirs(path)
                if kind == "projected":
                    pv = v["projected"]
                    check_keys(pv, where, ("sources", "defaultMode"))
                    default_mode = pv.get("defaultMode", 0o644)
                    for src in pv.get("sources") or []:
                        check_keys(src, f"{where}.sources", ("configMap", "secret"))
                        for skind, sv in src.items():
                            self.write_files(path, skind, sv, sv.get("name"), default_mode, fs_group, f"{where}.{skind}",
                                             ("name", "items", "optional"))
                else:
                    sv = v[kind] or {}
                    ref = sv.get("name") if kind == "configMap" else sv.get("secretName")
                    self.write_files(path, kind, sv, ref, sv.get("defaultMode", 0o644), fs_group, where,
                                     ("name" if kind == "configMap" else "secretName", "items", "optional", "defaultMode"))
                os.chmod(path, 0o755)
                out[name] = ("bind-ro", path)
            elif kind == "persistentVolumeClaim":
                pvc = v[kind]
                check_keys(pvc, where, ("claimName", "readOnly"))
                path = os.path.join(self.state_dir, "claims", pvc["claimName"])
                self.make_claim_dir(path, fs_group)
                out[name] = ("bind-ro" if pvc.get("readOnly") else "bind", path)
            else:
                raise Unsupported(f"{where}: volume type {kind} is not supported")
        return out

    @staticmethod
    def make_claim_dir(path, fs_group):
        if not os.path.isdir(path):
            os.makedirs(path)
            if fs_group is not None:
                os.chown(path, 0, int(fs_group))
                os.chmod(path, 0o2775)
            else:
                os.chmod(path, 0o777)

    def write_files(self, path, kind, sv, ref, default_mode, fs_group, where, allowed):
        check_keys(sv, where, allowed)
        store = self.ns.configmaps if kind == "configMap" else self.ns.secrets
        if ref not in store:
            if sv.get("optional"):
                return
            raise Unsupported(f"{where}: {kind} {ref} does not exist")
        data = store[ref]
        items = sv.get("items")
        if items is None:
            items = [{"key": k, "path": k} for k in sorted(data)]
        for item in items:
            check_keys(item, f"{where}.items", ("key", "path", "mode"))
            if item["key"] not in data:
                if sv.get("optional"):
                    continue
                raise Unsupported(f"{where}: {kind} {ref} has no key {item['key']}")
            rel = os.path.normpath(item["path"])
            if rel.startswith("..") or os.path.isabs(rel):
                raise Unsupported(f"{where}: item path {item['path']}")
            file = os.path.join(path, rel)
            os.makedirs(os.path.dirname(file), exist_ok=True)
            value = data[item["key"]]
            with open(file, "wb") as f:
                f.write(value if isinstance(value, bytes) else str(value).encode())
            mode = item.get("mode", default_mode)
            if fs_group is not None:
                # The kubelet gives the volume to fsGroup and makes files group-readable.
                os.chown(file, 0, int(fs_group))
                mode |= 0o040
            os.chmod(file, mode)

    def mounts(self, c, volumes):
        run = []
        for m in c.get("volumeMounts") or []:
            name = m["name"]
            if name not in volumes:
                raise Unsupported(f"{self.name}.{c['name']}: volumeMount of undefined volume {name}")
            kind, src = volumes[name]
            dst = m["mountPath"]
            ro = m.get("readOnly") or kind == "bind-ro"
            if kind == "tmpfs":
                if m.get("subPath"):
                    raise Unsupported(f"{self.name}: subPath on a tmpfs emptyDir")
                run += ["--tmpfs", f"{dst}:{'ro' if ro else 'rw'},{src}"]
                continue
            if m.get("subPath"):
                sub = os.path.normpath(m["subPath"])
                if sub.startswith("..") or os.path.isabs(sub):
                    raise Unsupported(f"{self.name}: subPath {m['subPath']}")
                src = os.path.join(src, sub)
                if not os.path.exists(src):
                    if kind == "bind-ro":
                        raise Unsupported(f"{self.name}: subPath {m['subPath']} not in volume {name}")
                    os.makedirs(src, mode=0o777)
            run += ["--mount", f"type=bind,source={src},destination={dst}" + (",readonly" if ro else "")]
        return run
