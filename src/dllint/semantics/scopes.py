"""The one pass over a file: scopes and their bindings, classes, functions and every call.

Names are resolved to qualified names on demand (after the pass, when every binding of a
scope is known), following Python's rules closely enough for linting: a name bound
anywhere in a function is local to it, class bodies are not visible from their methods,
``global`` redirects to the module.
"""

from __future__ import annotations

import builtins
from typing import Iterator, Optional, Union

import libcst as cst

from dllint.semantics import catalog
from dllint.semantics.catalog import is_library_module
from dllint.semantics.grad_mode import grad_mode_statement, grad_switch
from dllint.semantics.syntax import children_of, dotted_name


class Binding:
    """How a name got its value in one scope.

    kind: import | assign | def | class | param | other
    """

    __slots__ = ("kind", "node", "qualified", "value")

    def __init__(
        self,
        kind: str,
        node: cst.CSTNode,
        qualified: Optional[str] = None,
        value: Optional[cst.BaseExpression] = None,
    ) -> None:
        self.kind = kind
        self.node = node
        self.qualified = qualified  # import / def / class
        self.value = value  # assign (a single-name target)


class Scope:
    __slots__ = ("kind", "node", "parent", "module", "bindings", "globals", "star_imports", "info")

    def __init__(
        self,
        kind: str,
        node: cst.CSTNode,
        parent: Optional["Scope"],
        module: "ModuleInfo",
        bindings: Optional[dict[str, list[Binding]]] = None,
        globals: Optional[set[str]] = None,
        star_imports: Optional[list[str]] = None,
        info: Optional[Union["FunctionInfo", "ClassInfo"]] = None,
    ) -> None:
        self.kind = kind  # module | class | function
        self.node = node
        self.parent = parent
        self.module = module
        self.bindings: dict[str, list[Binding]] = {} if bindings is None else bindings
        self.globals: set[str] = set() if globals is None else globals
        self.star_imports: list[str] = [] if star_imports is None else star_imports
        self.info = info

    def bind(self, name: str, binding: Binding) -> None:
        target = self.module.scope if name in self.globals else self
        target.bindings.setdefault(name, []).append(binding)

    def lookup(self, name: str) -> Optional[list[Binding]]:
        """The bindings the name refers to from this scope, per Python's scoping rules."""
        scope: Optional[Scope] = self
        first = True
        while scope is not None:
            if name in scope.globals:
                scope = self.module.scope
            if (first or scope.kind != "class") and name in scope.bindings:
                return scope.bindings[name]
            first = False
            scope = scope.parent
        return None

    def resolve(self, expr: cst.BaseExpression) -> Optional[str]:
        """The canonical qualified name of a dotted expression, or None if unknown."""
        return self.module.resolve(expr, self)

    @property
    def function(self) -> Optional["FunctionInfo"]:
        scope: Optional[Scope] = self
        while scope is not None:
            if scope.kind == "function":
                return scope.info  # type: ignore[return-value]
            scope = scope.parent
        return None


class CallSite:
    __slots__ = ("node", "scope", "order", "no_grad", "loops", "guards", "_qualified")

    def __init__(
        self,
        node: cst.Call,
        scope: Scope,
        order: int,
        no_grad: bool,
        loops: tuple[cst.CSTNode, ...],
        guards: tuple[tuple[cst.BaseExpression, bool], ...] = (),
        _qualified: object = ...,
    ) -> None:
        self.node = node
        self.scope = scope
        self.order = order
        self.no_grad = no_grad
        self.loops = loops
        # Enclosing ``if`` tests, outermost first, each with whether the call is in its body
        # (True) or its else branch (False).
        self.guards = guards
        self._qualified = _qualified

    @property
    def qualified(self) -> Optional[str]:
        """Canonical qualified name of the callee when the callee is a resolvable dotted name."""
        if self._qualified is ...:
            self._qualified = self.scope.resolve(self.node.func)
        return self._qualified  # type: ignore[return-value]

    @property
    def method(self) -> Optional[str]:
        """``step`` for ``optimizer.step()``: the attribute called, whatever its receiver."""
        func = self.node.func
        return func.attr.value if type(func) is cst.Attribute else None  # (exact type: ABC isinstance is slow)

    @property
    def receiver(self) -> Optional[cst.BaseExpression]:
        func = self.node.func
        return func.value if type(func) is cst.Attribute else None

    @property
    def function(self) -> Optional["FunctionInfo"]:
        return self.scope.function

    @property
    def only_in_training(self) -> bool:
        """Whether an enclosing ``if`` runs the call only in training mode: ``if self.training
        and p > 0:`` (body), ``if not self.training: ... else:`` (else branch)."""
        return any(_requires_training(test, in_body) for test, in_body in self.guards)


def _requires_training(test: cst.BaseExpression, in_body: bool) -> bool:
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        in_body = not in_body
        test = test.expression
    if isinstance(test, cst.Attribute) and test.attr.value == "training":
        return in_body
    if in_body and isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _requires_training(test.left, True) or _requires_training(test.right, True)
    return False


class FunctionInfo:
    __slots__ = ("node", "name", "qualname", "scope", "cls", "decorators", "no_grad", "calls")

    def __init__(
        self,
        node: cst.FunctionDef,
        name: str,
        qualname: str,
        scope: Scope,
        cls: Optional["ClassInfo"],
        decorators: list[Optional[str]],
        no_grad: Optional[bool] = None,
        calls: Optional[list[CallSite]] = None,
    ) -> None:
        self.node = node
        self.name = name
        self.qualname = qualname
        self.scope = scope  # the function's own scope
        self.cls = cls
        self.decorators = decorators
        self.no_grad = no_grad  # a grad-mode decorator: True under ``@torch.no_grad()``, False under ``@torch.enable_grad()``
        self.calls: list[CallSite] = [] if calls is None else calls

    def __repr__(self) -> str:
        return f"<FunctionInfo {self.qualname}>"

    @property
    def params(self) -> list[cst.Param]:
        p = self.node.params
        return [*p.posonly_params, *p.params, *p.kwonly_params]

    @property
    def self_name(self) -> Optional[str]:
        """The name of the instance parameter of a method (normally ``self``)."""
        if self.cls is None or "builtins.staticmethod" in self.decorators or "builtins.classmethod" in self.decorators:
            return None
        params = self.params
        return params[0].name.value if params else None


class AttributeAssignment:
    """``self.<name> = value`` inside a method."""

    __slots__ = ("name", "value", "method", "node", "order")

    def __init__(
        self, name: str, value: Optional[cst.BaseExpression], method: FunctionInfo, node: cst.CSTNode, order: int
    ) -> None:
        self.name = name
        self.value = value
        self.method = method
        self.node = node
        self.order = order


class ClassInfo:
    __slots__ = ("node", "name", "qualified", "scope", "outer", "methods", "attribute_assignments")

    def __init__(
        self,
        node: cst.ClassDef,
        name: str,
        qualified: str,
        scope: Scope,
        outer: Scope,
        methods: Optional[dict[str, FunctionInfo]] = None,
        attribute_assignments: Optional[list[AttributeAssignment]] = None,
    ) -> None:
        self.node = node
        self.name = name
        self.qualified = qualified
        self.scope = scope  # the class body's scope
        self.outer = outer
        self.methods: dict[str, FunctionInfo] = {} if methods is None else methods
        self.attribute_assignments: list[AttributeAssignment] = (
            [] if attribute_assignments is None else attribute_assignments
        )

    def __repr__(self) -> str:
        return f"<ClassInfo {self.qualified}>"

    @property
    def bases(self) -> list[Optional[str]]:
        return [self.outer.resolve(base.value) for base in self.node.bases]


class ModuleInfo:
    __slots__ = ("name", "node", "scope", "calls", "functions", "classes", "imports", "is_package", "_resolving")

    def __init__(
        self,
        name: str,
        node: cst.Module,
        calls: Optional[list[CallSite]] = None,
        functions: Optional[list[FunctionInfo]] = None,
        classes: Optional[list[ClassInfo]] = None,
        imports: Optional[list[str]] = None,
        _resolving: Optional[set] = None,
        is_package: bool = False,
    ) -> None:
        self.name = name  # dotted module name (``pkg.models``)
        self.node = node
        self.is_package = is_package  # a package's ``__init__.py``: ``from . import x`` means ``pkg.x``
        self.calls: list[CallSite] = [] if calls is None else calls
        self.functions: list[FunctionInfo] = [] if functions is None else functions
        self.classes: list[ClassInfo] = [] if classes is None else classes
        # every module or name imported, anywhere in the file
        self.imports: list[str] = [] if imports is None else imports
        self._resolving: set = set() if _resolving is None else _resolving
        self.scope = Scope("module", node, None, self)

    def resolve(self, expr: cst.BaseExpression, scope: Scope) -> Optional[str]:
        expr_type = type(expr)  # (exact types: ABC isinstance is slow)
        if expr_type is cst.Name:
            qualified = self._resolve_name(expr.value, scope)
        elif expr_type is cst.Attribute:
            base = self.resolve(expr.value, scope)
            qualified = f"{base}.{expr.attr.value}" if base else None
        else:
            return None
        return catalog.canonical(qualified) if qualified else None

    def resolve_name(self, name: str, scope: Scope) -> Optional[str]:
        """The canonical qualified name a plain name stands for in ``scope``, or None."""
        qualified = self._resolve_name(name, scope)
        return catalog.canonical(qualified) if qualified else None

    def _resolve_name(self, name: str, scope: Scope) -> Optional[str]:
        bindings = scope.lookup(name)
        if bindings is None:
            return self._unbound(name)
        resolved = {self._resolve_binding(binding, scope) for binding in bindings}
        if len(resolved) != 1:
            return None
        return resolved.pop()

    def _unbound(self, name: str) -> Optional[str]:
        """A name this file never binds: one a star import brings in, or a builtin.

        A star import of a library (``from torch.nn import *``) gives the names the catalog
        knows. A star import of a module that may be a file of the run (``from models import *``)
        gives ``<this module>.<name>``: the name as Python would find it in this module's
        namespace, which the project index resolves by following the star imports (and their
        ``__all__``) once every file's summary is known."""
        stars = self.scope.star_imports
        for module in stars:
            candidate = catalog.canonical(f"{module}.{name}")
            if candidate in catalog.LAYERS or candidate in catalog.FUNCTIONS or candidate in catalog.MODULE_BASES:
                return candidate
        if name in _BUILTINS:
            return f"builtins.{name}"
        if name not in _ALL_BUILTINS and any(not is_library_module(module) for module in stars):
            # A module of the run passes on what it imported: ``torch``, ``nn``, ``np`` reach
            # a script through ``from model import *`` under their usual names.
            if name in _CONVENTIONAL_MODULES:
                return _CONVENTIONAL_MODULES[name]
            return f"{self.name}.{name}"
        return None

    def _resolve_binding(self, binding: Binding, scope: Scope) -> Optional[str]:
        if binding.kind in ("import", "def", "class"):
            return binding.qualified
        if binding.kind == "assign" and binding.value is not None:
            key = id(binding)
            if key in self._resolving:
                return None
            self._resolving.add(key)
            try:
                return self.resolve(binding.value, scope)
            finally:
                self._resolving.discard(key)
        return None


_BUILTINS = frozenset(
    {
        "super", "range", "len", "list", "tuple", "dict", "enumerate", "zip", "isinstance", "getattr", "setattr",
        "print", "staticmethod", "classmethod", "property", "reversed", "sum", "map", "min", "max", "int", "float",
        "iter", "next", "open", "sorted", "type", "hasattr", "str",
    }
)


_ALL_BUILTINS = frozenset(dir(builtins))

# Names that stand for these modules wherever Python code imports them.
_CONVENTIONAL_MODULES = {
    "torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional", "optim": "torch.optim", "np": "numpy",
    "numpy": "numpy", "math": "math", "random": "random", "torchvision": "torchvision", "plt": "matplotlib.pyplot",
}


class _Context:
    __slots__ = ("scope", "no_grad", "loops", "guards")

    def __init__(
        self,
        scope: Scope,
        no_grad: bool = False,
        loops: tuple[cst.CSTNode, ...] = (),
        guards: tuple[tuple[cst.BaseExpression, bool], ...] = (),
    ) -> None:
        self.scope = scope
        self.no_grad = no_grad
        self.loops = loops
        self.guards = guards

    def replace(self, **changes) -> "_Context":
        fields = {"scope": self.scope, "no_grad": self.no_grad, "loops": self.loops, "guards": self.guards}
        return _Context(**{**fields, **changes})


class Collector:
    """Walks a module once and fills a :class:`ModuleInfo`."""

    def __init__(self, module: ModuleInfo) -> None:
        self.info = module
        self.order = 0

    def run(self) -> ModuleInfo:
        self._body(self.info.node.body, _Context(self.info.scope))
        return self.info

    # statements -----------------------------------------------------------------------------

    def _body(self, statements, ctx: _Context) -> None:
        for statement in statements:
            self._statement(statement, ctx)
            if type(statement) is cst.SimpleStatementLine:
                for small in statement.body:
                    switch = grad_mode_statement(small, ctx.scope)
                    if switch is not None:
                        ctx = ctx.replace(no_grad=switch)  # ``torch.set_grad_enabled(True)``: the statements after it

    def _statement(self, node: cst.CSTNode, ctx: _Context) -> None:
        node_type = type(node)  # exact types: isinstance on LibCST's ABC node classes is slow
        if node_type is cst.SimpleStatementLine:
            for small in node.body:
                self._small(small, ctx)
        elif node_type is cst.FunctionDef:
            self._function(node, ctx)
        elif node_type is cst.ClassDef:
            self._class(node, ctx)
        elif node_type is cst.If:
            self._expr(node.test, ctx)
            self._block(node.body, ctx.replace(guards=ctx.guards + ((node.test, True),)))
            if node.orelse is not None:
                self._statement(node.orelse, ctx.replace(guards=ctx.guards + ((node.test, False),)))
        elif node_type is cst.Else:
            self._block(node.body, ctx)
        elif node_type is cst.For:
            self._expr(node.iter, ctx)
            self._bind_target(node.target, None, node, ctx)
            self._block(node.body, ctx.replace(loops=ctx.loops + (node,)))
            if node.orelse is not None:
                self._statement(node.orelse, ctx)
        elif node_type is cst.While:
            self._expr(node.test, ctx)
            self._block(node.body, ctx.replace(loops=ctx.loops + (node,)))
            if node.orelse is not None:
                self._statement(node.orelse, ctx)
        elif node_type is cst.With:
            no_grad = ctx.no_grad
            for item in node.items:
                self._expr(item.item, ctx)
                switch = grad_switch(item.item, ctx.scope)
                if switch is not None:
                    no_grad = switch
                if item.asname is not None:
                    self._bind_target(item.asname.name, None, node, ctx)
            self._block(node.body, ctx.replace(no_grad=no_grad))
        elif node_type in (cst.Try, cst.TryStar):
            self._block(node.body, ctx)
            for handler in node.handlers:
                if handler.type is not None:
                    self._expr(handler.type, ctx)
                if handler.name is not None:
                    self._bind_target(handler.name.name, None, handler, ctx)
                self._block(handler.body, ctx)
            if node.orelse is not None:
                self._statement(node.orelse, ctx)
            if node.finalbody is not None:
                self._block(node.finalbody.body, ctx)
        elif node_type is cst.Match:
            self._expr(node.subject, ctx)
            for case in node.cases:
                self._block(case.body, ctx)
        elif node_type in (cst.IndentedBlock, cst.SimpleStatementSuite):
            self._block(node, ctx)

    def _block(self, block: cst.BaseSuite, ctx: _Context) -> None:
        if type(block) is cst.SimpleStatementSuite:
            for small in block.body:
                self._small(small, ctx)
        else:
            self._body(block.body, ctx)

    def _small(self, node: cst.BaseSmallStatement, ctx: _Context) -> None:
        node_type = type(node)  # exact types: isinstance on LibCST's ABC node classes is slow
        scope = ctx.scope
        if node_type is cst.Assign:
            self._expr(node.value, ctx)
            for target in node.targets:
                self._bind_target(target.target, node.value, node, ctx)
        elif node_type is cst.AnnAssign:
            if node.value is not None:
                self._expr(node.value, ctx)
            self._bind_target(node.target, node.value, node, ctx)
        elif node_type is cst.AugAssign:
            self._expr(node.value, ctx)
            self._expr(node.target, ctx)
            if isinstance(node.target, cst.Name):
                scope.bind(node.target.value, Binding("other", node))
        elif node_type is cst.Import:
            for alias in node.names:
                full = dotted_name(alias.name)
                if full is None:
                    continue
                self.info.imports.append(full)
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    scope.bind(alias.asname.name.value, Binding("import", node, full))
                else:
                    top = full.split(".", 1)[0]
                    scope.bind(top, Binding("import", node, top))
        elif node_type is cst.ImportFrom:
            base = self._import_base(node)
            if base is None:
                return
            self.info.imports.append(base)
            if isinstance(node.names, cst.ImportStar):
                scope.star_imports.append(base)
                return
            for alias in node.names:
                name = dotted_name(alias.name)
                if name is None:
                    continue
                local = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else name
                scope.bind(local, Binding("import", node, f"{base}.{name}" if base else name))
        elif node_type in (cst.Global, cst.Nonlocal):
            if node_type is cst.Global:
                scope.globals.update(item.name.value for item in node.names)
        else:
            for child in children_of(node):
                self._expr(child, ctx)

    def _import_base(self, node: cst.ImportFrom) -> Optional[str]:
        module = dotted_name(node.module) if node.module is not None else ""
        if module is None:
            return None
        dots = len(node.relative)
        if not dots:
            return module
        package = self.info.name.split(".")
        if self.info.is_package:
            package.append("__init__")
        # ``from . import x`` inside pkg/mod.py (or pkg/__init__.py) refers to pkg; each further
        # dot goes one level up.
        anchor = package[: max(len(package) - dots, 0)]
        return ".".join([*anchor, module] if module else anchor)

    def _bind_target(self, target: cst.CSTNode, value, node: cst.CSTNode, ctx: _Context) -> None:
        scope = ctx.scope
        if type(target) is cst.Name:
            scope.bind(target.value, Binding("assign" if value is not None else "other", node, value=value))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind_target(element.value, None, node, ctx)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, None, node, ctx)
        else:
            self._expr(target, ctx)
            function = scope.function if scope.kind == "function" else None
            if function is not None and function.cls is not None and isinstance(target, cst.Attribute):
                self_name = function.self_name
                if self_name and isinstance(target.value, cst.Name) and target.value.value == self_name:
                    function.cls.attribute_assignments.append(
                        AttributeAssignment(target.attr.value, value, function, node, self.order)
                    )

    def _function(self, node: cst.FunctionDef, ctx: _Context) -> None:
        outer = ctx.scope
        decorators = []
        grad: Optional[bool] = None  # the decorator nearest the ``def`` is entered last: it wins
        for decorator in node.decorators:
            self._expr(decorator.decorator, ctx)
            expr = decorator.decorator
            decorators.append(outer.resolve(expr.func if isinstance(expr, cst.Call) else expr))
            switch = grad_switch(expr, outer)
            grad = grad if switch is None else switch
        for param in _all_params(node.params):
            if param.default is not None:
                self._expr(param.default, ctx)
        cls = outer.info if outer.kind == "class" else None
        qualname = f"{outer.info.qualname if outer.kind == 'function' else cls.name if cls else ''}.{node.name.value}".lstrip(".")
        scope = Scope("function", node, outer, self.info)
        function = FunctionInfo(
            node=node,
            name=node.name.value,
            qualname=qualname,
            scope=scope,
            cls=cls,  # type: ignore[arg-type]
            decorators=decorators,
            no_grad=grad,
        )
        scope.info = function
        outer.bind(node.name.value, Binding("def", node, qualified=f"{self.info.name}.{qualname}"))
        if cls is not None:
            cls.methods.setdefault(node.name.value, function)
        self.info.functions.append(function)
        for param in _all_params(node.params):
            scope.bind(param.name.value, Binding("param", param))
        self._block(node.body, _Context(scope, function.no_grad is True))

    def _class(self, node: cst.ClassDef, ctx: _Context) -> None:
        outer = ctx.scope
        for base in node.bases:
            self._expr(base.value, ctx)
        for decorator in node.decorators:
            self._expr(decorator.decorator, ctx)
        name = node.name.value
        prefix = f"{outer.info.qualname}." if outer.kind == "function" else f"{outer.info.name}." if outer.kind == "class" else ""
        qualified = f"{self.info.name}.{prefix}{name}"
        scope = Scope("class", node, outer, self.info)
        cls = ClassInfo(node=node, name=name, qualified=qualified, scope=scope, outer=outer)
        scope.info = cls
        outer.bind(name, Binding("class", node, qualified=qualified))
        self.info.classes.append(cls)
        self._block(node.body, _Context(scope))

    # expressions ----------------------------------------------------------------------------

    def _expr(self, node: cst.CSTNode, ctx: _Context) -> None:
        stack = [node]
        calls = []
        call_type, named_type, name_type = cst.Call, cst.NamedExpr, cst.Name
        while stack:
            current = stack.pop()
            current_type = type(current)
            if current_type is call_type:
                calls.append(current)
            elif current_type is named_type and type(current.target) is name_type:
                ctx.scope.bind(current.target.value, Binding("assign", current, value=current.value))
            elif current_type in _LEAVES:
                continue
            children = children_of(current)
            if children:
                children.reverse()
                stack.extend(children)
        function = ctx.scope.function
        for call in calls:
            self.order += 1
            site = CallSite(call, ctx.scope, self.order, ctx.no_grad, ctx.loops, ctx.guards)
            self.info.calls.append(site)
            if function is not None:
                function.calls.append(site)


_LEAVES = frozenset((cst.Name, cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Ellipsis))


def _all_params(params: cst.Parameters) -> Iterator[cst.Param]:
    yield from params.posonly_params
    yield from params.params
    if type(params.star_arg) is cst.Param:
        yield params.star_arg
    yield from params.kwonly_params
    if params.star_kwarg is not None:
        yield params.star_kwarg


