"""`__rcu` address space: which expressions are RCU-protected pointers, and plain uses of them.

The stub front end erases ``__rcu`` (pycparser cannot parse attributes), so the annotation is
read back from the tree's header texts: typedefs (``typedef u64 __rcu *tdp_ptep_t;``), struct
fields, function parameters and return types. Inside a function, locals and parameters get
their declared types from the AST (and ``__rcu`` from their declaration's source line).
A finding is what sparse calls "different address spaces" / "dereference of noderef":
a dereference, a cast to a plain type, an assignment or argument passing into a plain pointer,
or a plain return of an ``__rcu`` pointer, unless an accessor (data/rcu.toml) strips it.
Unknown callees and untyped bases are never reported (no guessing, no false alarms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pycparser import c_ast

from kpatchkit.analyze.cfg import expr_text

_NOT_TYPES = {"return", "else", "if", "case", "goto", "do", "while", "sizeof", "typedef"}
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


@dataclass
class Decl:
    """An annotated (or plain) declaration read from a header: where and what."""

    rcu: bool  # the value is an __rcu pointer (or an array of them, see ``array``)
    ptr: bool  # a pointer of any address space
    struct: str = ""  # the struct it points to / is (for field lookups)
    array: bool = False
    where: str = ""  # "path:line"
    text: str = ""


@dataclass
class Annotations:
    """Everything the pass knows about ``__rcu`` in one tree view."""

    typedefs: dict[str, str] = field(default_factory=dict)  # name -> "path:line"
    fields: dict[str, dict[str, Decl]] = field(default_factory=dict)  # struct -> field -> Decl
    protos: dict[str, tuple[Decl, list[Decl]]] = field(default_factory=dict)


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _decl_of(text: str, typedefs: dict[str, str], where: str) -> tuple[str, Decl]:
    """(name, Decl) of one declarator text such as ``tdp_ptep_t pt_path[5]``."""
    t = re.sub(r":\s*\d+\s*$", "", text.strip())
    array = bool(re.search(r"\[[^\]]*\]\s*$", t))
    t = re.sub(r"(\[[^\]]*\])+\s*$", "", t).strip()
    m = re.search(r"([A-Za-z_]\w*)\s*$", t)
    name = m.group(1) if m else ""
    ty = t[:m.start()] if m else t
    words = set(re.findall(r"[A-Za-z_]\w*", ty))
    rcu = "__rcu" in words or bool(words & set(typedefs))
    sm = re.search(r"\bstruct\s+([A-Za-z_]\w*)", ty)
    return name, Decl(rcu=rcu, ptr="*" in ty or rcu, struct=sm.group(1) if sm else "",
                      array=array, where=where, text=" ".join(text.split()))


def scan_headers(texts: dict[str, str]) -> Annotations:
    """Read typedefs, struct fields and prototypes (names and address spaces) from texts."""
    ann = Annotations()
    clean = {p: _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), t) for p, t in texts.items()}
    for path, t in clean.items():
        for m in re.finditer(r"\btypedef\s+[^;{}()]*\b__rcu\b[^;{}()]*?([A-Za-z_]\w*)\s*;", t):
            ann.typedefs[m.group(1)] = f"{path}:{_line_of(t, m.start())}"
    for path, t in clean.items():
        for m in re.finditer(r"\bstruct\s+([A-Za-z_]\w*)\s*\{", t):
            depth, j = 1, m.end()
            while j < len(t) and depth:
                depth += {"{": 1, "}": -1}.get(t[j], 0)
                j += 1
            body = t[m.end():j - 1]
            fields = ann.fields.setdefault(m.group(1), {})
            for fm in re.finditer(r"[^;{}]+;", body):
                decl = fm.group(0)[:-1]
                if "(" in decl or not decl.strip():
                    continue
                pos = m.end() + fm.start() + len(decl) - len(decl.lstrip())
                where = f"{path}:{_line_of(t, pos)}"
                head, *more = decl.split(",")
                name, d = _decl_of(head, ann.typedefs, where)
                if name:
                    fields.setdefault(name, d)
                base = re.sub(r"[*\s]*[A-Za-z_]\w*\s*(\[[^\]]*\])*\s*$", "", head)
                for extra in more:
                    n2, d2 = _decl_of(base + " " + extra, ann.typedefs, where)
                    if n2:
                        fields.setdefault(n2, d2)
        proto = re.compile(r"(?m)^[ \t]*(?:static\s+)?(?:inline\s+)?(?:__always_inline\s+)?"
                           r"([A-Za-z_][\w \t\*]*?[\s\*])([A-Za-z_]\w*)\s*\(([^()]*)\)\s*[{;]")
        for m in proto.finditer(t):
            if set(m.group(1).split()) & _NOT_TYPES:
                continue
            where = f"{path}:{_line_of(t, m.start())}"
            _, ret = _decl_of(m.group(1) + " __ret", ann.typedefs, where)
            params = []
            for p in m.group(3).split(","):
                pname, pd = _decl_of(p if re.search(r"\w\s*$", p) else p + " __p",
                                     ann.typedefs, where)
                params.append(pd)
            ann.protos.setdefault(m.group(2), (ret, params))
    return ann


@dataclass
class AddrFinding:
    """One plain use of an __rcu pointer (becomes a ``rcu-address-space`` finding)."""

    function: str
    line: int
    message: str
    evidence: str


class _Pass(c_ast.NodeVisitor):
    def __init__(self, ann: Annotations, accessors: dict, lines: list[str], fn: str) -> None:
        self.ann = ann
        self.acc = accessors
        self.lines = lines
        self.fn = fn
        self.env: dict[str, Decl] = {}
        self.ret: Decl | None = None
        self.out: list[AddrFinding] = []

    # ---- types of expressions ------------------------------------------------------------
    def type_decl(self, node: c_ast.Node, name: str, line: int) -> Decl:
        ptr = array = False
        while isinstance(node, (c_ast.PtrDecl, c_ast.ArrayDecl)):
            ptr |= isinstance(node, c_ast.PtrDecl)
            array |= isinstance(node, c_ast.ArrayDecl)
            node = node.type
        inner = getattr(node, "type", None)
        names = getattr(inner, "names", None) or []
        struct = inner.name if isinstance(inner, c_ast.Struct) else ""
        src = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        rcu = bool(set(names) & set(self.ann.typedefs)) or bool(
            re.search(rf"\b__rcu\b[^;=]*\b{re.escape(name)}\b", src))
        where = f"line {line}"
        for td in sorted(set(names) & set(self.ann.typedefs)):
            where += f"; `typedef ... __rcu *{td}` at {self.ann.typedefs[td]}"
        return Decl(rcu=rcu and (ptr or bool(set(names) & set(self.ann.typedefs))),
                    ptr=ptr or rcu, struct=struct, array=array, where=where,
                    text=" ".join(src.split()))

    def info(self, e: c_ast.Node) -> Decl | None:
        """The declaration behind an lvalue-ish expression (None when unknown)."""
        if isinstance(e, c_ast.ID):
            return self.env.get(e.name)
        if isinstance(e, c_ast.StructRef):
            base = self.info(e.name)
            if base is None or not base.struct:
                return None
            return self.ann.fields.get(base.struct, {}).get(e.field.name)
        if isinstance(e, c_ast.ArrayRef):
            base = self.info(e.name)
            if base is not None and base.array:
                return Decl(rcu=base.rcu, ptr=base.ptr, struct=base.struct, where=base.where,
                            text=base.text)
            return None
        return None

    def rcu(self, e: c_ast.Node | None) -> Decl | None:
        """The Decl making ``e`` an __rcu pointer value, or None."""
        if e is None:
            return None
        if isinstance(e, (c_ast.ID, c_ast.StructRef, c_ast.ArrayRef)):
            d = self.info(e)
            return d if d is not None and d.rcu and not d.array else None
        if isinstance(e, c_ast.UnaryOp) and e.op == "&" and isinstance(e.expr, c_ast.ArrayRef):
            return self.rcu(e.expr.name)  # &pt[i] is pt + i
        if isinstance(e, c_ast.BinaryOp) and e.op in ("+", "-"):
            return self.rcu(e.left) or (self.rcu(e.right) if e.op == "+" else None)
        if isinstance(e, c_ast.TernaryOp):
            return self.rcu(e.iftrue) or self.rcu(e.iffalse)
        if isinstance(e, c_ast.Cast):
            d = self.type_decl(e.to_type.type, "", e.coord.line if e.coord else 0)
            return d if d.rcu else None
        if isinstance(e, c_ast.FuncCall) and isinstance(e.name, c_ast.ID):
            if e.name.name in self.acc:
                return None
            proto = self.ann.protos.get(e.name.name)
            return proto[0] if proto and proto[0].rcu else None
        return None

    # ---- findings ------------------------------------------------------------------------
    def report(self, node: c_ast.Node, what: str, d: Decl, e: c_ast.Node) -> None:
        line = node.coord.line if node.coord else 0
        if "__force" in (self.lines[line - 1] if 0 < line <= len(self.lines) else ""):
            return
        text = expr_text(e)
        ev = f"`{text}` is __rcu: `{d.text}` ({d.where})"
        self.out.append(AddrFinding(self.fn, line, f"{what} __rcu pointer `{text}` without "
                                    "rcu_dereference() or an __rcu-aware accessor", ev))

    def visit_FuncCall(self, node: c_ast.FuncCall) -> None:
        name = node.name.name if isinstance(node.name, c_ast.ID) else ""
        args = node.args.exprs if node.args is not None else []
        if name not in self.acc and name in self.ann.protos:
            params = self.ann.protos[name][1]
            for i, a in enumerate(args):
                d = self.rcu(a)
                p = params[i] if i < len(params) else None
                if d is not None and p is not None and p.ptr and not p.rcu:
                    self.report(a, f"passes (as argument {i + 1} of {name}(), declared "
                                f"`{p.text}`)", d, a)
        self.generic_visit(node)

    def visit_UnaryOp(self, node: c_ast.UnaryOp) -> None:
        if node.op == "&" and isinstance(node.expr, (c_ast.ArrayRef, c_ast.StructRef)):
            # `&pt[i]` computes an address, it reads nothing: only the subexpressions count.
            inner = node.expr
            self.visit(inner.name)
            if isinstance(inner, c_ast.ArrayRef):
                self.visit(inner.subscript)
            return
        if node.op == "*" and (d := self.rcu(node.expr)) is not None:
            self.report(node, "dereferences", d, node.expr)
        self.generic_visit(node)

    def visit_StructRef(self, node: c_ast.StructRef) -> None:
        if node.type == "->" and (d := self.rcu(node.name)) is not None:
            self.report(node, "dereferences", d, node.name)
        self.generic_visit(node)

    def visit_ArrayRef(self, node: c_ast.ArrayRef) -> None:
        if (d := self.rcu(node.name)) is not None:
            self.report(node, "indexes (dereferences)", d, node.name)
        self.generic_visit(node)

    def visit_Cast(self, node: c_ast.Cast) -> None:
        d = self.rcu(node.expr)
        if d is not None:
            to = self.type_decl(node.to_type.type, "", node.coord.line if node.coord else 0)
            names = getattr(getattr(node.to_type.type, "type", None), "names", None) or []
            if not to.rcu and names != ["void"]:
                self.report(node, "casts to a plain type the", d, node.expr)
        self.generic_visit(node)

    def visit_Assignment(self, node: c_ast.Assignment) -> None:
        d = self.rcu(node.rvalue)
        target = self.info(node.lvalue)
        if d is not None and target is not None and target.ptr and not target.rcu \
                and not target.array:
            self.report(node, f"assigns (to plain pointer `{expr_text(node.lvalue)}`) the",
                        d, node.rvalue)
        self.generic_visit(node)

    def visit_Decl(self, node: c_ast.Decl) -> None:
        if node.name and not isinstance(node.type, c_ast.FuncDecl):
            line = node.coord.line if node.coord else 0
            mine = self.type_decl(node.type, node.name, line)
            self.env[node.name] = mine
            d = self.rcu(node.init) if node.init is not None else None
            if d is not None and mine.ptr and not mine.rcu:
                self.report(node, f"initialises plain pointer `{node.name}` from the", d,
                            node.init)
        self.generic_visit(node)

    def visit_Return(self, node: c_ast.Return) -> None:
        d = self.rcu(node.expr)
        if d is not None and self.ret is not None and self.ret.ptr and not self.ret.rcu:
            self.report(node, "returns (as a plain pointer) the", d, node.expr)
        self.generic_visit(node)


def scan_function(fn: c_ast.FuncDef, ann: Annotations, accessors: dict,
                  lines: list[str]) -> list[AddrFinding]:
    """Plain uses of __rcu pointers in one function definition."""
    p = _Pass(ann, accessors, lines, fn.decl.name)
    ftype = fn.decl.type
    line = fn.coord.line if fn.coord else 0
    p.ret = p.type_decl(ftype.type, "", line) if isinstance(ftype, c_ast.FuncDecl) else None
    # The return type's __rcu is on the signature line(s), not the name's.
    if p.ret is not None:
        p.ret.rcu = p.ret.rcu or bool(re.search(r"\b__rcu\b", lines[line - 1] if line else ""))
    for prm in getattr(getattr(ftype, "args", None), "params", None) or []:
        if isinstance(prm, c_ast.Decl) and prm.name:
            p.env[prm.name] = p.type_decl(prm.type, prm.name,
                                          prm.coord.line if prm.coord else line)
    p.visit(fn.body)
    return p.out


def scan_unit(ast: c_ast.FileAST, file: str, source: str, headers: dict[str, str],
              accessors: dict) -> list[AddrFinding]:
    """Every plain use of an __rcu pointer in the functions defined in ``file``."""
    ann = scan_headers({**headers, file: source})
    if not ann.typedefs and "__rcu" not in source and not any(
            d.rcu for f in ann.fields.values() for d in f.values()):
        return []
    lines = source.split("\n")
    out: list[AddrFinding] = []
    for ext in ast.ext:
        if isinstance(ext, c_ast.FuncDef) and ext.coord is not None and ext.coord.file == file:
            out.extend(scan_function(ext, ann, accessors, lines))
    return out
