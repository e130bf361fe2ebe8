"""YAML with source positions, for error messages of the form

    file:line:col: key.path: message

PyYAML's composer gives a node tree with marks; `Node` wraps one node with
its file and key path and offers typed, checked access.  Every mapping is
read through `Node.fields()`, which rejects unknown and duplicate keys.
"""

import yaml


class TopologyError(Exception):
    """A topology problem with its position: `file:line:col: key: message`."""

    def __init__(self, file, line, col, key, message):
        self.file, self.line, self.col, self.key, self.message = file, line, col, key, message
        where = f"{file}:{line}:{col}" if line else f"{file}"
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


_CONSTRUCTOR = yaml.SafeLoader("")


def load(text, file):
    """Parse text; return the root Node (a YAML syntax error is a TopologyError)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark or e.context_mark
        msg = "YAML syntax error: " + " ".join(x for x in (e.context, e.problem) if x)
        raise TopologyError(file, m.line + 1 if m else 0, m.column + 1 if m else 0, "", msg) from None
    except yaml.YAMLError as e:
        raise TopologyError(file, 0, 0, "", f"YAML error: {e}") from None
    if root is None:
        root = yaml.MappingNode("tag:yaml.org,2002:map", [])
        root.start_mark = None
    return Node(root, file, "")


class Node:
    def __init__(self, node, file, path, key_node=None):
        self.node = node
        self.file = file
        self.path = path
        self.key_node = key_node

    # ---- position and errors
    @property
    def line(self):
        m = self.node.start_mark
        return m.line + 1 if m else 1

    @property
    def col(self):
        m = self.node.start_mark
        return m.column + 1 if m else 1

    def fail(self, msg, at_key=False):
        n = self.key_node if (at_key and self.key_node is not None) else self.node
        m = n.start_mark
        raise TopologyError(self.file, m.line + 1 if m else 1, m.column + 1 if m else 1,
                            self.path, msg)

    def child_path(self, key):
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else str(key)

    # ---- kinds
    def is_map(self):
        return isinstance(self.node, yaml.MappingNode)

    def is_seq(self):
        return isinstance(self.node, yaml.SequenceNode)

    def is_scalar(self):
        return isinstance(self.node, yaml.ScalarNode)

    def is_null(self):
        return self.is_scalar() and self.node.tag == "tag:yaml.org,2002:null"

    @property
    def value(self):
        """The plain Python value of this subtree (as PyYAML's safe_load would give)."""
        return _CONSTRUCTOR.construct_object(self.node, deep=True)

    # ---- maps
    def fields(self, allowed, required=()):
        """{key: Node} of a mapping; unknown, duplicate and missing keys are errors.

        A null node counts as an empty mapping (`client:` with nothing after it)."""
        if self.is_null():
            out = {}
        else:
            if not self.is_map():
                self.fail(f"expected a mapping, got {self.kind()}")
            out = {}
            for kn, vn in self.node.value:
                if not isinstance(kn, yaml.ScalarNode):
                    Node(kn, self.file, self.path).fail("keys must be plain names")
                key = kn.value
                child = Node(vn, self.file, self.child_path(key), kn)
                if key in out:
                    child.fail(f"duplicate key '{key}'", at_key=True)
                if allowed is not None and key not in allowed:
                    hint = ", ".join(sorted(allowed))
                    child.fail(f"unknown key '{key}' (allowed: {hint})", at_key=True)
                out[key] = child
        for k in required:
            if k not in out:
                self.fail(f"missing required key '{k}'")
        return out

    def entries(self):
        """[(name, Node)] of a mapping keyed by names (hosts, routers, ports)."""
        if self.is_null():
            return []
        return list(self.fields(None).items())

    # ---- lists
    def items(self, allow_scalar=False):
        if self.is_null():
            return []
        if allow_scalar and self.is_scalar():
            return [self]
        if not self.is_seq():
            self.fail(f"expected a list, got {self.kind()}")
        return [Node(n, self.file, self.child_path(i)) for i, n in enumerate(self.node.value)]

    # ---- scalars
    def kind(self):
        if self.is_map():
            return "a mapping"
        if self.is_seq():
            return "a list"
        if self.is_null():
            return "nothing (null)"
        return f"'{self.node.value}'"

    def text(self):
        """The scalar as written (strings, numbers and addresses alike)."""
        if not self.is_scalar() or self.is_null():
            self.fail(f"expected a scalar, got {self.kind()}")
        return str(self.node.value)

    def str(self):
        return self.text()

    def int(self, lo=None, hi=None):
        v = self.value if self.is_scalar() else None
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(f"expected an integer, got {self.kind()}")
        if lo is not None and v < lo or hi is not None and v > hi:
            self.fail(f"{v} is out of range [{lo}, {hi}]")
        return v

    def number(self, lo=None):
        v = self.value if self.is_scalar() else None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.fail(f"expected a number, got {self.kind()}")
        if lo is not None and v < lo:
            self.fail(f"{v} is below {lo}")
        return v

    def bool(self):
        v = self.value if self.is_scalar() else None
        if not isinstance(v, bool):
            self.fail(f"expected true or false, got {self.kind()}")
        return v

    def strs(self):
        """A string or a list of strings -> list of (text, Node)."""
        return [(n.text(), n) for n in self.items(allow_scalar=True)]
