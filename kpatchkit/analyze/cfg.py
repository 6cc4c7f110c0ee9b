"""Lower a pycparser function definition to a control-flow graph of call events.

Each node carries the calls it makes in evaluation order. Conditions are lowered with
short-circuit edges (``a && b`` branches twice), so a call on the right of ``&&`` runs only on
the path where the left was true; a branch on a plain variable records it, which the dataflow
uses for path sensitivity (``if (shared) read_lock(...) else write_lock(...)``).
Iterator loops (``for (ITER(args); __kpk_iter_cond(); __kpk_iter_next())``) become an
``iter`` event at the loop head and push the walk onto the body's lexical walk stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pycparser import c_ast, c_generator

from kpatchkit.analyze.macros import ITER_COND

_GEN = c_generator.CGenerator()


@dataclass
class Event:
    """A call (or an iterator entry) at a source line."""

    name: str
    args: list[str]
    line: int
    kind: str = "call"  # call | iter | assign (to a variable) | store (to memory)
    guarded: bool = False  # the only statement of an `if` with an opaque condition


@dataclass
class Node:
    """A CFG node: events run in order, then control goes to ``succ``.

    A branch node has ``cond`` and exactly two successors (true, false); a multi-way
    ``switch`` node has ``cond`` None and any number of successors.
    """

    id: int
    line: int
    kind: str = "stmt"  # entry | exit | stmt | branch | return
    events: list[Event] = field(default_factory=list)
    succ: list[int] = field(default_factory=list)
    cond: tuple | None = None  # ("var", name, positive) | ("trylock", Event, positive)
    walks: tuple = ()  # enclosing iterator walks: (name, line, args) ...


@dataclass
class FunctionCFG:
    """The CFG of one function plus what the dataflow needs to know about it."""

    name: str
    file: str
    line: int
    params: list[str]
    nodes: dict[int, Node]
    entry: int
    exit: int
    assigned: set[str]
    static: bool
    calls: list[Event]
    addr_taken: set[str] = field(default_factory=set)
    shape: str = ""  # content hash with lines relative to ``line`` (see shape_of)


def expr_text(node: c_ast.Node | None) -> str:
    """C text of an expression (for lock identity and argument matching)."""
    if node is None:
        return ""
    try:
        return _GEN.visit(node)
    except Exception:  # noqa: BLE001 - odd GNU nodes: text is only a label
        return type(node).__name__


def _callee(call: c_ast.FuncCall) -> str:
    return call.name.name if isinstance(call.name, c_ast.ID) else ""


def _line(node: c_ast.Node | None, default: int) -> int:
    coord = getattr(node, "coord", None)
    return coord.line if coord is not None and coord.line else default


class _Builder:
    def __init__(self, fn: c_ast.FuncDef, iterators: set[str], trylocks: set[str],
                 predicates: set[str]) -> None:
        self.fn = fn
        self.predicates = predicates
        self.iterators = iterators
        self.trylocks = trylocks
        self.nodes: dict[int, Node] = {}
        self.labels: dict[str, Node] = {}
        self.assigned: set[str] = set()
        self.addr_taken: set[str] = set()
        self.walks: tuple = ()
        self.brk: list[int] = []
        self.cont: list[int] = []
        self.switch_cases: list[list[int]] = []
        self.switch_default: list[list[int]] = []
        self.calls: list[Event] = []

    def new(self, line: int, kind: str = "stmt", succ: list[int] | None = None) -> Node:
        node = Node(len(self.nodes), line, kind, succ=list(succ or []), walks=self.walks)
        self.nodes[node.id] = node
        return node

    # ---- expressions -------------------------------------------------------------------
    def events(self, expr: c_ast.Node | None, line: int) -> list[Event]:
        out: list[Event] = []
        self._collect(expr, line, out)
        return out

    def _collect(self, expr: c_ast.Node | None, line: int, out: list[Event]) -> None:
        if expr is None:
            return
        if isinstance(expr, c_ast.FuncCall):
            args = expr.args.exprs if expr.args is not None else []
            for a in args:
                self._collect(a, line, out)
            if not isinstance(expr.name, c_ast.ID):
                self._collect(expr.name, line, out)
            ev = Event(_callee(expr), [expr_text(a) for a in args], _line(expr, line))
            out.append(ev)
            self.calls.append(ev)
            return
        if isinstance(expr, c_ast.Assignment) and isinstance(expr.lvalue, c_ast.ID):
            # Flag variables (`locked = true;`) become path facts: emit the assignment.
            self._collect(expr.rvalue, line, out)
            name = expr.lvalue.name
            self.assigned.add(name)
            value = expr_text(expr.rvalue) if expr.op == "=" else "?"
            out.append(Event("=", [name, value], _line(expr, line), kind="assign"))
            return
        if isinstance(expr, c_ast.Assignment):
            # A store to memory (`sp->unsync = 1`): guarded-data contracts look at these.
            self._collect(expr.rvalue, line, out)
            self._collect(expr.lvalue, line, out)
            out.append(Event("store", [expr_text(expr.lvalue), expr_text(expr.rvalue)],
                             _line(expr, line), kind="store"))
            return
        if isinstance(expr, c_ast.UnaryOp) and expr.op in ("++", "--", "p++", "p--"):
            if isinstance(expr.expr, c_ast.ID):
                self.assigned.add(expr.expr.name)
                out.append(Event("=", [expr.expr.name, "?"], _line(expr, line), kind="assign"))
                return
            self._collect(expr.expr, line, out)
            out.append(Event("store", [expr_text(expr.expr), "?"], _line(expr, line),
                             kind="store"))
            return
        if isinstance(expr, c_ast.UnaryOp) and expr.op == "&" and isinstance(expr.expr, c_ast.ID):
            # Address taken: may change behind our back, never a fact.
            self.assigned.add(expr.expr.name)
            self.addr_taken.add(expr.expr.name)
        for _, child in expr.children():
            self._collect(child, line, out)

    # ---- conditions --------------------------------------------------------------------
    def cond(self, expr: c_ast.Node, t: int, f: int, line: int) -> int:
        if isinstance(expr, c_ast.BinaryOp) and expr.op == "&&":
            right = self.cond(expr.right, t, f, line)
            return self.cond(expr.left, right, f, line)
        if isinstance(expr, c_ast.BinaryOp) and expr.op == "||":
            right = self.cond(expr.right, t, f, line)
            return self.cond(expr.left, t, right, line)
        if isinstance(expr, c_ast.UnaryOp) and expr.op == "!":
            return self.cond(expr.expr, f, t, line)
        line = _line(expr, line)
        node = self.new(line, "branch", [t, f])
        if isinstance(expr, c_ast.ID):
            node.cond = ("var", expr.name, True)
        elif isinstance(expr, c_ast.FuncCall) and _callee(expr) in self.trylocks:
            args = expr.args.exprs if expr.args is not None else []
            node.events = [e for a in args for e in self.events(a, line)]
            node.cond = ("trylock", Event(_callee(expr), [expr_text(a) for a in args], line),
                         True)
            return node.id
        node.events = self.events(expr, line)
        if _pure(expr, self.predicates):
            # A side-effect-free predicate call (`is_tdp_mmu(vcpu->arch.mmu)`) is a fact by its
            # text: the same test later on the path (or in a paired callee) answers the same.
            node.cond = ("text", expr_text(expr), True)
        return node.id

    # ---- statements (continuation style: lower(stmt, next) -> entry) -------------------
    def block(self, items: list[c_ast.Node] | None, nxt: int) -> int:
        for item in reversed(items or []):
            nxt = self.stmt(item, nxt)
        return nxt

    def simple(self, expr: c_ast.Node | None, nxt: int, line: int) -> int:
        evs = self.events(expr, line)
        if not evs:
            return nxt
        node = self.new(line, "stmt", [nxt])
        node.events = evs
        return node.id

    def stmt(self, s: c_ast.Node | None, nxt: int) -> int:  # noqa: C901 - a dispatch table
        if s is None:
            return nxt
        line = _line(s, self.fn.coord.line)
        if isinstance(s, c_ast.Compound):
            return self.block(s.block_items, nxt)
        if isinstance(s, c_ast.Decl):
            if s.init is not None:
                evs = self.events(s.init, line)
                if s.name and not isinstance(s.init, c_ast.InitList):
                    evs.append(Event("=", [s.name, expr_text(s.init)], line, kind="assign"))
                if not evs:
                    return nxt
                node = self.new(line, "stmt", [nxt])
                node.events = evs
                return node.id
            return nxt
        if isinstance(s, c_ast.DeclList):
            return self.block(list(s.decls), nxt)
        if isinstance(s, c_ast.If):
            t = self.stmt(s.iftrue, nxt)
            if s.iffalse is None and t != nxt and _plain_call(s.iftrue):
                # `if (opaque) lockdep_assert_...(l);` waives the assertion in some states
                # (e.g. VM teardown): the callee knows when; do not treat it as a contract.
                node = self.nodes[t]
                if len(node.events) == 1 and not _simple_var(s.cond):
                    node.events[0].guarded = True
            f = self.stmt(s.iffalse, nxt) if s.iffalse is not None else nxt
            return self.cond(s.cond, t, f, line) if s.cond is not None else t
        if isinstance(s, c_ast.Return):
            node = self.new(line, "return", [self.exit])
            node.events = self.events(s.expr, line)
            return node.id
        if isinstance(s, (c_ast.While, c_ast.DoWhile)):
            head = self.new(line)
            self.brk.append(nxt)
            if isinstance(s, c_ast.While):
                self.cont.append(head.id)
                body = self.stmt(s.stmt, head.id)
                self.cont.pop()
                head.succ = [self.cond(s.cond, body, nxt, line)]
                entry = head.id
            else:
                test = self.cond(s.cond, head.id, nxt, line)
                self.cont.append(test)
                body = self.stmt(s.stmt, test)
                self.cont.pop()
                head.succ = [body]
                entry = head.id
            self.brk.pop()
            return entry
        if isinstance(s, c_ast.For):
            return self.for_loop(s, nxt, line)
        if isinstance(s, c_ast.Switch):
            self.brk.append(nxt)
            self.switch_cases.append([])
            self.switch_default.append([])
            body = self.stmt(s.stmt, nxt)
            cases = self.switch_cases.pop()
            default = self.switch_default.pop()
            self.brk.pop()
            del body
            sw = self.new(line, "stmt", list(dict.fromkeys(cases + (default or [nxt]))))
            sw.events = self.events(s.cond, line)
            return sw.id
        if isinstance(s, c_ast.Case):
            entry = self.block(s.stmts, nxt)
            if self.switch_cases:
                self.switch_cases[-1].append(entry)
            return entry
        if isinstance(s, c_ast.Default):
            entry = self.block(s.stmts, nxt)
            if self.switch_default:
                self.switch_default[-1].append(entry)
            return entry
        if isinstance(s, c_ast.Break):
            return self.brk[-1] if self.brk else nxt
        if isinstance(s, c_ast.Continue):
            return self.cont[-1] if self.cont else nxt
        if isinstance(s, c_ast.Label):
            ph = self.labels.setdefault(s.name, self.new(line))
            ph.succ = [self.stmt(s.stmt, nxt)]
            return ph.id
        if isinstance(s, c_ast.Goto):
            return self.labels.setdefault(s.name, self.new(line)).id
        if isinstance(s, (c_ast.EmptyStatement, c_ast.Typedef, c_ast.Pragma,
                          c_ast.StaticAssert)):
            return nxt
        return self.simple(s, nxt, line)

    def for_loop(self, s: c_ast.For, nxt: int, line: int) -> int:
        init = s.init
        iter_call = None
        if (isinstance(init, c_ast.FuncCall) and _callee(init) in self.iterators) or (
            isinstance(init, c_ast.FuncCall) and isinstance(s.cond, c_ast.FuncCall)
            and _callee(s.cond) == ITER_COND
        ):
            iter_call = init
        head = self.new(line)
        self.brk.append(nxt)
        if iter_call is not None:
            args = iter_call.args.exprs if iter_call.args is not None else []
            ev = Event(_callee(iter_call), [expr_text(a) for a in args], line, kind="iter")
            saved = self.walks
            self.walks = saved + ((ev.name, line, tuple(ev.args)),)
            self.cont.append(head.id)
            body = self.stmt(s.stmt, head.id)
            self.cont.pop()
            self.walks = saved
            # Loop head: the walk may end at any iteration.
            head.succ = [body, nxt]
            self.brk.pop()
            entry = self.new(line, "stmt", [head.id])
            entry.events = [e for a in args for e in self.events(a, line)] + [ev]
            self.calls.append(ev)
            return entry.id
        step = self.new(line, "stmt", [head.id])
        step.events = self.events(s.next, line)
        self.cont.append(step.id)
        body = self.stmt(s.stmt, step.id)
        self.cont.pop()
        self.brk.pop()
        head.succ = [self.cond(s.cond, body, nxt, line) if s.cond is not None else body]
        if isinstance(init, c_ast.DeclList):
            return self.block(list(init.decls), head.id)
        return self.simple(init, head.id, line)

    def build(self) -> FunctionCFG:
        fn = self.fn
        line = fn.coord.line
        exit_node = self.new(line, "exit")
        self.exit = exit_node.id
        # Falling off the end is a return at the closing brace (line unknown: use last line).
        last = _last_line(fn.body, line)
        fall = self.new(last, "return", [self.exit])
        body = self.stmt(fn.body, fall.id)
        entry = self.new(line, "entry", [body])
        params = _params(fn)
        storage = fn.decl.storage or []
        return FunctionCFG(
            name=fn.decl.name, file=fn.coord.file, line=line, params=params, nodes=self.nodes,
            entry=entry.id, exit=self.exit, assigned=self.assigned, static="static" in storage,
            calls=self.calls, addr_taken=self.addr_taken,
        )


def _pure(expr: c_ast.Node, predicates: set[str]) -> bool:
    """A known side-effect-free predicate call on plain variables and fields."""
    if isinstance(expr, c_ast.FuncCall) and _callee(expr) in predicates:
        args = expr.args.exprs if expr.args is not None else []
        return all(_field_read(a) for a in args)
    return False


def _field_read(expr: c_ast.Node) -> bool:
    if isinstance(expr, c_ast.ID):
        return True
    if isinstance(expr, c_ast.StructRef):
        return _field_read(expr.name)
    return False


def _plain_call(s: c_ast.Node | None) -> bool:
    if isinstance(s, c_ast.Compound) and s.block_items and len(s.block_items) == 1:
        s = s.block_items[0]
    return isinstance(s, c_ast.FuncCall)


def _simple_var(cond: c_ast.Node | None) -> bool:
    while isinstance(cond, c_ast.UnaryOp) and cond.op == "!":
        cond = cond.expr
    return isinstance(cond, c_ast.ID)


def _params(fn: c_ast.FuncDef) -> list[str]:
    ftype = fn.decl.type
    plist = getattr(ftype, "args", None)
    names = []
    for p in getattr(plist, "params", None) or []:
        names.append(getattr(p, "name", None) or "")
    return names


def _last_line(node: c_ast.Node, default: int) -> int:
    best = default
    stack = [node]
    while stack:
        n = stack.pop()
        c = getattr(n, "coord", None)
        if c is not None and c.line and c.line > best:
            best = c.line
        stack.extend(child for _, child in n.children())
    return best + 1


def build_cfgs(ast: c_ast.FileAST, file: str, iterators: set[str],
               trylocks: set[str], predicates: set[str] = frozenset()) -> list[FunctionCFG]:
    """CFGs of the functions defined in ``file`` (not in headers), in source order."""
    out = []
    for ext in ast.ext:
        if isinstance(ext, c_ast.FuncDef) and ext.coord is not None and ext.coord.file == file:
            out.append(_Builder(ext, iterators, trylocks, set(predicates)).build())
    for cfg in out:
        cfg.shape = shape_of(cfg)
    return out


def shape_of(cfg: FunctionCFG) -> str:
    """What the dataflow reads of ``cfg``, with every line relative to the function's first:
    the same function moved up or down by an edit elsewhere has the same shape."""
    from kpatchkit.cache import content_hash

    base = cfg.line

    def ev(e: Event) -> tuple:
        return (e.name, tuple(e.args), e.line - base, e.kind, e.guarded)

    nodes = []
    for nid in sorted(cfg.nodes):
        n = cfg.nodes[nid]
        cond = n.cond
        if cond is not None and cond[0] == "trylock":
            cond = (cond[0], ev(cond[1]), *cond[2:])
        nodes.append((nid, n.line - base, n.kind, tuple(ev(e) for e in n.events),
                      tuple(n.succ), cond,
                      tuple((w[0], w[1] - base, tuple(w[2])) for w in n.walks)))
    return content_hash(repr((cfg.name, cfg.file, tuple(cfg.params), nodes, cfg.entry,
                              cfg.exit, sorted(cfg.assigned), cfg.static,
                              sorted(cfg.addr_taken), tuple(ev(e) for e in cfg.calls))))

