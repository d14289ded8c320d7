"""Field-level primitives every other module uses; no state, no I/O beyond log's stderr line.

Guarantees: check_keys raises Unsupported for any field that is neither handled nor explicitly ignored (so nothing
in a manifest is silently dropped); parse_quantity reads Kubernetes quantities (Ki..Ei, n..E, plain numbers) or
raises Unsupported; expand does Kubernetes' $(VAR) expansion exactly ($$ escapes, unknown references stay).
"""
import sys


class Unsupported(Exception):
    """A manifest asks for something this runner cannot emulate faithfully."""


def log(msg):
    print(f"kube_play: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Manifest checks: every field is either handled, explicitly ignored, or an error.

def check_keys(obj, path, handled, ignored=()):
    if obj is None:
        return
    if not isinstance(obj, dict):
        raise Unsupported(f"{path}: expected a mapping, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(handled) - set(ignored))
    if unknown:
        raise Unsupported(f"{path}: unsupported field(s) {', '.join(unknown)}")


def parse_quantity(q):
    """A Kubernetes resource quantity as a float (bytes, cores...)."""
    s = str(q).strip()
    suffixes = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
                "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
    for suffix in sorted(suffixes, key=len, reverse=True):
        if s.endswith(suffix) and s[: -len(suffix)].replace(".", "", 1).lstrip("+-").isdigit():
            return float(s[: -len(suffix)]) * suffixes[suffix]
    try:
        return float(s)
    except ValueError:
        raise Unsupported(f"bad quantity {q!r}") from None


def expand(text, env):
    """Kubernetes' $(VAR) expansion: $$ is $, $(NAME) is env[NAME] when defined and stays as written otherwise."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                j = text.find(")", i + 2)
                if j == -1:
                    out.append(text[i:])
                    break
                name = text[i + 2 : j]
                out.append(env[name] if name in env else text[i : j + 1])
                i = j + 1
                continue
            out.append(c + nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)

